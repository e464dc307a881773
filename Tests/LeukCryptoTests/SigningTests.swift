import Testing
import LeukCore
@testable import LeukCrypto

/// RFC 8032 section 7.1, tests 1-3: secret key (seed), public key, message, signature.
private let rfc8032Vectors: [(seed: String, publicKey: String, message: String, signature: String)] = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]

@Suite struct Ed25519KnownAnswers {
    @Test(arguments: 0..<3)
    func rfc8032Vector(index: Int) throws {
        let v = rfc8032Vectors[index]
        let pair = try SigningKeyPair(seed: Hex.decode(v.seed)!)
        #expect(Hex.encode(pair.publicKey.bytes) == v.publicKey)
        let message = Hex.decode(v.message)!
        #expect(Hex.encode(pair.signRaw(message)) == v.signature)
        #expect(pair.publicKey.isValidRawSignature(Hex.decode(v.signature)!, for: message))
        #expect(pair.seed() == Hex.decode(v.seed)!)
    }

    @Test func tamperedVectorFails() throws {
        let v = rfc8032Vectors[1]
        let pair = try SigningKeyPair(seed: Hex.decode(v.seed)!)
        var signature = Hex.decode(v.signature)!
        signature[10] ^= 1
        #expect(!pair.publicKey.isValidRawSignature(signature, for: Hex.decode(v.message)!))
        #expect(!pair.publicKey.isValidRawSignature(Hex.decode(v.signature)!, for: [0x73]))
    }
}

@Suite struct ContextSeparation {
    @Test func signatureVerifiesOnlyUnderItsOwnContext() {
        let pair = SigningKeyPair()
        let message = Array("model parameters digest".utf8)
        for context in SigningContext.allCases {
            let signature = pair.sign(message, context: context)
            for other in SigningContext.allCases {
                #expect(pair.publicKey.isValidSignature(signature, for: message, context: other) == (other == context),
                        "signed under \(context.rawValue), checked under \(other.rawValue)")
            }
        }
    }

    @Test func contextualSignatureIsNotARawSignature() {
        let pair = SigningKeyPair()
        let message = Array("x".utf8)
        let signature = pair.sign(message, context: .modelUpdate)
        #expect(!pair.publicKey.isValidRawSignature(signature, for: message))
    }

    @Test func tamperedMessageAndWrongKeyFail() throws {
        let pair = SigningKeyPair(), other = SigningKeyPair()
        var message = Array(repeating: UInt8(7), count: 100)
        let signature = pair.sign(message, context: .modelUpdate)
        #expect(pair.publicKey.isValidSignature(signature, for: message, context: .modelUpdate))
        #expect(!other.publicKey.isValidSignature(signature, for: message, context: .modelUpdate))
        message[50] ^= 0x80
        #expect(throws: CryptoError.signatureInvalid(context: "leuknode/v1/model-update")) {
            try pair.publicKey.verify(signature, for: message, context: .modelUpdate)
        }
        #expect(!pair.publicKey.isValidSignature([1, 2, 3], for: message, context: .modelUpdate))
    }

    @Test func identityBindsItsAgreementKey() throws {
        let identity = NodeIdentity.generate()
        _ = try identity.publicIdentity.verifiedBinding()
        let swapped = PublicIdentity(signingKey: identity.signing.publicKey, agreementKey: AgreementKeyPair().publicKey,
                                     binding: identity.binding)
        #expect(throws: CryptoError.self) { try swapped.verifiedBinding() }
        // The binding is made under its own context: it does not verify as any other kind of signature.
        #expect(!identity.signing.publicKey.isValidSignature(identity.binding, for: identity.agreement.publicKey.bytes, context: .modelUpdate))
    }

    @Test func keyLengthsAreChecked() {
        #expect(throws: CryptoError.invalidKeyLength(what: "Ed25519 public key", expected: 32, actual: 31)) {
            try SigningPublicKey(bytes: Array(repeating: 0, count: 31))
        }
        #expect(throws: CryptoError.self) { try SigningKeyPair(seed: []) }
        #expect(throws: CryptoError.self) { try AgreementKeyPair(secret: [1, 2]) }
    }
}

@Suite struct Encryption {
    @Test func sealedBoxRoundTripAndWrongKey() throws {
        let recipient = AgreementKeyPair(), stranger = AgreementKeyPair()
        let message = Array("patient record".utf8)
        let sealed = SealedBox.seal(message, to: recipient.publicKey)
        #expect(try SealedBox.open(sealed, with: recipient) == message)
        #expect(throws: CryptoError.self) { try SealedBox.open(sealed, with: stranger) }
        var tampered = sealed
        tampered[tampered.count - 1] ^= 1
        #expect(throws: CryptoError.self) { try SealedBox.open(tampered, with: recipient) }
        #expect(try SealedBox.open(SealedBox.seal([], to: recipient.publicKey), with: recipient) == [])
        #expect(throws: CryptoError.self) { try SealedBox.open([1, 2, 3], with: recipient) }
    }

    @Test func aeadRoundTripTamperAndAssociatedData() throws {
        let key = SymmetricKey()
        let plain = Array("canary-1234".utf8)
        let sealed = key.seal(plain, associatedData: Array("clinic/abc".utf8))
        #expect(sealed.count == plain.count + SymmetricKey.overhead)
        #expect(try key.open(sealed, associatedData: Array("clinic/abc".utf8)) == plain)
        #expect(throws: CryptoError.self) { try key.open(sealed, associatedData: Array("clinic/abd".utf8)) }
        for index in [0, 30, sealed.count - 1] {
            var tampered = sealed
            tampered[index] ^= 0x01
            #expect(throws: CryptoError.self) { try key.open(tampered, associatedData: Array("clinic/abc".utf8)) }
        }
        #expect(throws: CryptoError.self) { try SymmetricKey().open(sealed, associatedData: Array("clinic/abc".utf8)) }
        #expect(throws: CryptoError.self) { try key.open(Array(sealed.prefix(10))) }
        // Fresh random nonce each time: the same plaintext never gives the same ciphertext.
        #expect(key.seal(plain) != key.seal(plain))
        #expect(try key.open(key.seal([])) == [])
    }
}

@Suite struct Passwords {
    @Test func hashVerifyAndRehash() throws {
        let cheap = PasswordHasher(opsLimit: 1, memLimit: 8192 * 4)
        let stored = try cheap.hash("correct horse")
        #expect(stored.hasPrefix("$argon2id$"))
        #expect(PasswordHasher.verify("correct horse", against: stored))
        #expect(!PasswordHasher.verify("correct horsf", against: stored))
        #expect(!PasswordHasher.verify("", against: stored))
        #expect(!PasswordHasher.verify("x", against: "not a hash"))
        #expect(PasswordHasher.interactive.needsRehash(stored))
        #expect(!cheap.needsRehash(stored))
    }

    @Test func productionDefaultIsAtLeastInteractiveAndOWASP() {
        let production = PasswordHasher.interactive
        #expect(production.opsLimit >= 2)
        #expect(production.memLimit >= 19 << 20)
    }
}
