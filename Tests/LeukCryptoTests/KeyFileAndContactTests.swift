import Testing
import Foundation
import LeukCore
@testable import LeukCrypto

private func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "leuk-crypto-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite struct KeyFiles {
    @Test func plainRoundTripAndMode() throws {
        let dir = temporaryDirectory()
        let path = dir + "/node.key"
        let identity = NodeIdentity.generate()
        try KeyFile.write(identity, to: path, passphrase: nil)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let loaded = try KeyFile.read(from: path, passphrase: nil)
        #expect(loaded.id == identity.id)
        #expect(loaded.agreement.publicKey == identity.agreement.publicKey)
        #expect(throws: KeyFileError.alreadyExists(path: path)) { try KeyFile.write(identity, to: path, passphrase: nil) }
    }

    @Test func passphraseProtection() throws {
        let dir = temporaryDirectory()
        let path = dir + "/node.key"
        let identity = NodeIdentity.generate()
        try KeyFile.write(identity, to: path, passphrase: "s3cret pass")
        #expect(KeyFile.isPassphraseProtected(path: path))
        let raw = [UInt8](FileManager.default.contents(atPath: path)!)
        // The seed must not appear in the file.
        let seed = identity.signing.seed()
        #expect(!raw.indices.dropLast(31).contains { Array(raw[$0..<$0 + 32]) == seed })
        #expect(try KeyFile.read(from: path, passphrase: "s3cret pass").id == identity.id)
        #expect(throws: KeyFileError.wrongPassphrase(path: path)) { try KeyFile.read(from: path, passphrase: "wrong") }
        #expect(throws: KeyFileError.passphraseRequired(path: path)) { try KeyFile.read(from: path, passphrase: nil) }
    }

    @Test func wrongPermissionsAreRefusedWithAFix() throws {
        let dir = temporaryDirectory()
        let path = dir + "/node.key"
        try KeyFile.write(NodeIdentity.generate(), to: path, passphrase: nil)
        chmod(path, 0o644)
        do {
            _ = try KeyFile.read(from: path, passphrase: nil)
            Issue.record("a world-readable key file was accepted")
        } catch {
            #expect(error == .wrongPermissions(path: path, mode: 0o644))
            #expect(error.hint?.contains("chmod 600") == true)
        }
    }

    @Test func truncationAndCorruptionAreDetected() throws {
        let dir = temporaryDirectory()
        let path = dir + "/node.key"
        let bytes = try KeyFile.encode(NodeIdentity.generate(), passphrase: nil)
        for cut in [0, 5, 12, bytes.count - 1] {
            try AtomicFile.write(Array(bytes.prefix(cut)), to: path, mode: 0o600)
            #expect(throws: KeyFileError.self) { try KeyFile.read(from: path, passphrase: nil) }
        }
        var flipped = bytes
        flipped[20] ^= 0x40
        try AtomicFile.write(flipped, to: path, mode: 0o600)
        #expect(throws: KeyFileError.corrupt(path: path, reason: "checksum mismatch")) { try KeyFile.read(from: path, passphrase: nil) }
        try AtomicFile.write(Array("hello, not a key".utf8), to: path, mode: 0o600)
        #expect(throws: KeyFileError.notAKeyFile(path: path)) { try KeyFile.read(from: path, passphrase: nil) }
        #expect(throws: KeyFileError.notFound(path: dir + "/missing")) { try KeyFile.read(from: dir + "/missing", passphrase: nil) }

        let sealed = try KeyFile.encode(NodeIdentity.generate(), passphrase: "pw")
        try AtomicFile.write(Array(sealed.dropLast(3)), to: path, mode: 0o600)
        #expect(throws: KeyFileError.truncated(path: path)) { try KeyFile.read(from: path, passphrase: "pw") }
    }
}

@Suite struct Contacts {
    let contact = Contact(identity: NodeIdentity.generate().publicIdentity, host: "10.1.2.3", port: 7400)

    @Test func roundTripAndFingerprint() throws {
        let text = contact.description
        #expect(text.hasPrefix("leuk1:"))
        #expect(text.hasSuffix("@10.1.2.3:7400"))
        let parsed = try Contact(parsing: "  " + text + "\n")
        #expect(parsed == contact)
        #expect(parsed.fingerprint.text.count == 19)
        #expect(parsed.fingerprint == contact.identity.fingerprint)
        let v6 = Contact(identity: contact.identity, host: "::1", port: 9)
        #expect(try Contact(parsing: v6.description) == v6)
    }

    @Test func everyMalformedOrTamperedContactIsRejectedWithAReason() throws {
        let text = contact.description
        let body = String(text.dropFirst(6).prefix { $0 != "@" })
        let cases: [(String, ContactError)] = [
            ("", .missingPrefix),
            ("leuk2:" + text.dropFirst(6), .missingPrefix),
            ("leuk1:" + body, .missingAddress),
            ("leuk1:" + body + "!@10.1.2.3:7400", .badEncoding),
            ("leuk1:" + body.dropLast(4) + "@10.1.2.3:7400", .wrongLength(129, expected: 132)),
            ("leuk1:" + body + "@10.1.2.3", .badAddress("10.1.2.3")),
            ("leuk1:" + body + "@10.1.2.3:99999", .badPort("99999")),
            ("leuk1:" + body + "@10.1.2.4:7400", .checksumMismatch),
            ("leuk1:" + body + "@10.1.2.3:7401", .checksumMismatch),
        ]
        for (input, expected) in cases {
            #expect(throws: expected, "input: \(input)") { try Contact(parsing: input) }
        }
    }

    @Test func swappedAgreementKeyIsCaughtEvenWithAFixedChecksum() throws {
        // An attacker who swaps the X25519 key and recomputes the (unkeyed) checksum still fails the binding.
        let forged = PublicIdentity(signingKey: contact.identity.signingKey, agreementKey: AgreementKeyPair().publicKey,
                                    binding: contact.identity.binding)
        let text = Contact(identity: forged, host: "10.1.2.3", port: 7400).description
        #expect(throws: ContactError.bindingInvalid) { try Contact(parsing: text) }
    }

    @Test func singleCharacterEditsNeverParse() throws {
        let text = Array(contact.description)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<200 {
            var edited = text
            let index = 6 + Int(rng.next() % UInt64(text.count - 6))
            let replacement = alphabet[Int(rng.next() % UInt64(alphabet.count))]
            guard edited[index] != replacement else { continue }
            edited[index] = replacement
            #expect(throws: ContactError.self) { try Contact(parsing: String(edited)) }
        }
    }

    @Test func base64URLIsCanonical() {
        for n in 0..<20 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
        #expect(Base64URL.decode("A") == nil)
        #expect(Base64URL.decode("AB") == nil)  // non-zero leftover bits
    }
}
