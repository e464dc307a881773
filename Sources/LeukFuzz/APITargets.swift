import LeukAPI
import LeukCrypto
import LeukData

/// The JSON bodies of the node's HTTP API: what anyone who can reach the API port sends, before (and, for
/// `/v1/login`, without) a token. Read as a request's are (`APIRequestBodies.read`): the route's body limit and
/// field rule, the generated server's decoding with the server's configuration, the handler's checks.
enum APITargets {
    /// Every operation that takes a JSON body; the input's first byte picks one.
    static let operations = APIRequestBodies.operationIDs

    /// An accepted body must come back from the generated client's encoding: its re-encoding is read again
    /// (it must be accepted), encodes to the same bytes, and reads a third time to the same request. (The first
    /// reading can differ from the second only in a date's fraction of a second: answers and the client
    /// write dates to the second.)
    static let json = FuzzTarget(
        name: "api-json", summary: "an HTTP API request body, per operation (APIRequestBodies.read: gate, generated decoding, handler checks)",
        body: .async({ bytes in
            guard let control = bytes.first else { return .refused("empty input") }
            let operationID = operations[Int(control) % operations.count]
            let first: APIRequestBody
            do {
                first = try await APIRequestBodies.read(Array(bytes.dropFirst()), operationID: operationID)
            } catch {
                return .of(error)
            }
            do {
                let second = try await APIRequestBodies.read(first.encoded, operationID: operationID)
                precondition(second.encoded == first.encoded, "\(operationID): an accepted body does not encode stably")
                let third = try await APIRequestBodies.read(second.encoded, operationID: operationID)
                precondition(third == second, "\(operationID): a re-encoded body reads as another request")
            } catch {
                preconditionFailure("\(operationID): an accepted body's own encoding is refused: \(error)")
            }
            return .accepted
        }),
        seeds: {
            let contact = Contact(identity: Fixtures.initiator.publicIdentity, host: "10.0.0.7", port: 7400).description
            let image = RGBImage(width: 4, height: 4, pixels: (0..<48).map { UInt8(truncatingIfNeeded: $0 * 29) })
            let examples = try! await APIRequestBodies.examples(contact: contact, image: try! ImageEncoder.png(image))
            var counts: [String: Int] = [:]
            return examples.map { example in
                let index = operations.firstIndex(of: example.operationID)!
                let count = counts[example.operationID, default: 0]
                counts[example.operationID] = count + 1
                return FuzzSeed("\(example.operationID)-\(count)", [UInt8(index)] + example.body)
            }
        })
}
