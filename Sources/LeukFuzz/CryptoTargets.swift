import LeukCore
import LeukCrypto

/// What an operator pastes or copies in: another institution's contact string, and the node's key file.
enum CryptoTargets {
    /// `Contact(parsing:)` on the input as UTF-8 text; an accepted contact must print as a contact that
    /// parses to itself.
    static let contact = FuzzTarget(
        name: "contact", summary: "a peer's contact string, leuk1:...@host:port (Contact(parsing:))",
        run: { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            do {
                let contact = try Contact(parsing: text)
                precondition((try? Contact(parsing: contact.description)) == contact, "an accepted contact does not survive printing")
                return .accepted
            } catch {
                return .of(error)
            }
        },
        seeds: {
            [FuzzSeed("ipv4", Array(Contact(identity: Fixtures.initiator.publicIdentity, host: "10.0.0.7", port: 7400).description.utf8)),
             FuzzSeed("ipv6", Array(Contact(identity: Fixtures.responder.publicIdentity, host: "fd00::2", port: 443).description.utf8)),
             FuzzSeed("name", Array(Contact(identity: Fixtures.author.publicIdentity, host: "node-1.hospital.example", port: 65535).description.utf8))]
        })

    /// `KeyFile.decode`. A passphrase-protected file is opened with a passphrase only when its stored
    /// Argon2id cost is the smallest one (1 pass, 8 KiB), so the fuzzer reaches the decryption without
    /// spending up to 4 GiB and 64 passes on every input; other protected files are read without one.
    static let keyFile = FuzzTarget(
        name: "key-file", summary: "the node's key file, plain or passphrase-protected (KeyFile.decode)",
        run: { bytes in
            let passphrase: String? = isCheapPassphraseFile(bytes) ? "fuzz passphrase" : nil
            do {
                let identity = try KeyFile.decode(bytes, passphrase: passphrase, path: "fuzz.key")
                let again = try KeyFile.decode(try KeyFile.encode(identity, passphrase: nil), passphrase: nil, path: "again.key")
                precondition(again.publicIdentity == identity.publicIdentity, "an accepted key file does not survive encode/decode")
                return .accepted
            } catch {
                return .of(error)
            }
        },
        seeds: {
            let plain = try! KeyFile.encode(Fixtures.initiator, passphrase: nil)
            return [FuzzSeed("plain", plain),
                    FuzzSeed("plain-other", try! KeyFile.encode(Fixtures.responder, passphrase: nil))]
        })

    /// magic(8) version(1) protection(1) salt(16) opslimit(8) memlimit(8), little-endian.
    static func isCheapPassphraseFile(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 42, bytes[9] == 1 else { return false }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) } }
        return u64(26) <= 1 && u64(34) <= 8192
    }
}
