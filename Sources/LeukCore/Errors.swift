/// The shared error vocabulary. Every error a person may read conforms, so the CLI and the HTTP API
/// can print the problem and what to do about it the same way, whichever module raised it.
public protocol LeukUserFacingError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, in words an operator understands, naming the file, peer or field involved.
    var description: String { get }
    /// What to do about it, when there is something to do. `nil` when the message says it all.
    var hint: String? { get }
}

extension LeukUserFacingError {
    public var hint: String? { nil }

    /// The message and the hint on one or two lines, ready for a terminal.
    public var userMessage: String {
        if let hint { return "\(description)\n  hint: \(hint)" }
        return description
    }
}
