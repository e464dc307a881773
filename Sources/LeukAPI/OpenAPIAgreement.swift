import Foundation

/// Compares the routes a server registers with an OpenAPI document, so the document cannot drift
/// from the code: every route must be documented with its path and query parameters, and every
/// documented operation must exist.
///
/// The parse is line-based and expects the layout of `docs/api/openapi.yaml` (two-space indents:
/// paths at 2, methods at 4, `parameters` entries as `- name:` followed by `in:`); that is enough
/// for this document and needs no YAML library.
public enum OpenAPIAgreement {
    /// One documented operation.
    public struct Operation: Hashable, Sendable {
        public var method: String
        public var path: String
        public var queryParameters: Set<String>
        public var pathParameters: Set<String>
    }

    /// The operations listed under `paths:`.
    public static func operations(in yaml: String) -> [Operation] {
        var operations: [Operation] = []
        var inPaths = false
        var currentPath: String?
        var current: Operation?
        var pendingName: String?
        let methods: Set<String> = ["get", "post", "put", "patch", "delete"]
        func flush() {
            if let op = current { operations.append(op) }
            current = nil
        }
        for rawLine in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let indent = line.prefix { $0 == " " }.count
            if indent == 0 {
                flush()
                inPaths = trimmed == "paths:"
                currentPath = nil
                continue
            }
            guard inPaths else { continue }
            if indent == 2, trimmed.hasSuffix(":") {
                flush()
                currentPath = String(trimmed.dropLast())
                continue
            }
            if indent == 4, trimmed.hasSuffix(":"), methods.contains(String(trimmed.dropLast())), let currentPath {
                flush()
                current = Operation(method: trimmed.dropLast().uppercased(), path: currentPath, queryParameters: [], pathParameters: [])
                continue
            }
            guard current != nil else { continue }
            if trimmed.hasPrefix("- name:") {
                pendingName = value(of: trimmed.dropFirst(2))
            } else if trimmed.hasPrefix("in:"), let name = pendingName {
                switch value(of: Substring(trimmed)) {
                case "query": current?.queryParameters.insert(name)
                case "path": current?.pathParameters.insert(name)
                default: break
                }
                pendingName = nil
            }
        }
        flush()
        return operations
    }

    /// Every disagreement between `routes` and `yaml`, in words; empty when they agree.
    public static func differences(routes: [APIRoute], yaml: String) -> [String] {
        let documented = operations(in: yaml)
        var problems: [String] = []
        var byKey: [String: Operation] = [:]
        for op in documented {
            let key = op.method + " " + op.path
            if byKey[key] != nil { problems.append("\(key) is documented twice") }
            byKey[key] = op
        }
        var registered = Set<String>()
        for route in routes {
            let key = route.method.rawValue + " " + route.path
            registered.insert(key)
            guard let op = byKey[key] else {
                problems.append("\(key) is served but not documented in the OpenAPI document")
                continue
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
        for key in byKey.keys.sorted() where !registered.contains(key) {
            problems.append("\(key) is documented but the server has no such route")
        }
        return problems
    }

    private static func value(of text: Substring) -> String {
        guard let colon = text.firstIndex(of: ":") else { return "" }
        return text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
    }
}
