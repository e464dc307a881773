import Foundation
import Yams
@testable import LeukAPI

/// Compares the routes a server registers with the OpenAPI document, so the document cannot drift from
/// the code: every route must be documented with its path and query parameters, and every documented
/// operation must exist. The document is read with a YAML parser (Yams), so any valid layout works.
enum OpenAPIAgreement {
    /// One documented operation.
    struct Operation: Hashable, Sendable {
        var method: String
        var path: String
        var queryParameters: Set<String>
        var pathParameters: Set<String>
        var operationID: String?
    }

    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    static let methods: Set<String> = ["get", "post", "put", "patch", "delete"]

    /// The operations listed under `paths:`.
    static func operations(in yaml: String) throws -> [Operation] {
        guard let document = try Yams.load(yaml: yaml) as? [String: Any], let paths = document["paths"] as? [String: Any] else {
            throw Unreadable(description: "the document has no `paths` object")
        }
        var operations: [Operation] = []
        for (path, item) in paths {
            guard let item = item as? [String: Any] else { throw Unreadable(description: "\(path) is not an object") }
            for (method, value) in item where methods.contains(method) {
                guard let operation = value as? [String: Any] else { throw Unreadable(description: "\(method) \(path) is not an object") }
                let parameters = (operation["parameters"] as? [[String: Any]] ?? []) + (item["parameters"] as? [[String: Any]] ?? [])
                func names(in location: String) -> Set<String> {
                    Set(parameters.filter { $0["in"] as? String == location }.compactMap { $0["name"] as? String })
                }
                operations.append(Operation(method: method.uppercased(), path: path, queryParameters: names(in: "query"),
                                            pathParameters: names(in: "path"), operationID: operation["operationId"] as? String))
            }
        }
        return operations
    }

    /// Every disagreement between `routes` and `yaml`, in words; empty when they agree.
    static func differences(routes: [APIRoute], yaml: String) throws -> [String] {
        let documented = Dictionary(uniqueKeysWithValues: try operations(in: yaml).map { ($0.method + " " + $0.path, $0) })
        var problems: [String] = []
        var registered = Set<String>()
        for route in routes {
            let key = route.method.rawValue + " " + route.path
            registered.insert(key)
            guard let op = documented[key] else {
                problems.append("\(key) is served but not documented in the OpenAPI document")
                continue
            }
            if route.operationID != op.operationID {
                problems.append("\(key): the route table calls it '\(route.operationID)' but the document's operationId is '\(op.operationID ?? "none")'")
            }
            let query = Set(route.query)
            if query != op.queryParameters {
                problems.append("\(key): the route accepts query parameters \(query.sorted()) but the document lists \(op.queryParameters.sorted())")
            }
            let pathParameters = Set(route.path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) })
            if pathParameters != op.pathParameters {
                problems.append("\(key): path parameters \(pathParameters.sorted()) but the document lists \(op.pathParameters.sorted())")
            }
        }
        for key in documented.keys.sorted() where !registered.contains(key) {
            problems.append("\(key) is documented but the server has no such route")
        }
        return problems
    }
}
