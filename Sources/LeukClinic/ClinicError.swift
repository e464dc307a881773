public import LeukCore
import LeukStore

/// Why the clinic refused a request. Each case names the record or field involved and says what to do;
/// the HTTP layer maps the case to a status once (`kind`), so every module speaks the same vocabulary.
public struct ClinicError: LeukUserFacingError, Equatable {
    /// The class of failure, which decides the HTTP status.
    public enum Kind: String, Sendable, Equatable {
        /// No valid credentials (401).
        case unauthenticated
        /// Authenticated, but this role or person may not do it (403).
        case forbidden
        /// No such record, or none the caller may know about (404).
        case notFound
        /// The request is well formed but its values make no sense (422).
        case invalid
        /// The request conflicts with the current state: a booked slot, a taken name (409).
        case conflict
        /// Too many failed logins; try again later (429).
        case locked
        /// A dependency (the model) is not ready (503).
        case unavailable
        /// The node's own storage failed (500): nothing the caller did wrong.
        case storage
        /// The node's disk is full (507): the request would have to write (a record, or the audit entry a
        /// read leaves) and nothing was written; it succeeds once the operator frees space.
        case diskFull
    }

    public var kind: Kind
    public var description: String
    public var hint: String?
    /// For `.locked`: seconds until the next attempt is accepted.
    public var retryAfterSeconds: Int?

    public init(_ kind: Kind, _ description: String, hint: String? = nil, retryAfterSeconds: Int? = nil) {
        self.kind = kind
        self.description = description
        self.hint = hint
        self.retryAfterSeconds = retryAfterSeconds
    }

    static func storage(_ error: StoreError) -> ClinicError {
        if case .diskFull = error {
            // Without the store's path and LevelDB's words: a patient reads this too.
            return ClinicError(.diskFull, "the node's disk is full, so nothing of this request was written",
                               hint: "retry later; the node's operator must free disk space. Nothing acknowledged was lost, "
                                   + "and the node writes again by itself once space returns")
        }
        return ClinicError(.storage, "the clinic database failed: \(error.description)", hint: error.hint)
    }

    static func notFound(_ what: String, _ id: String) -> ClinicError {
        ClinicError(.notFound, "no \(what) with id '\(id)'", hint: "list them first to find the right id")
    }

    static func forbidden(_ why: String) -> ClinicError {
        ClinicError(.forbidden, why)
    }

    static func invalid(_ why: String, hint: String? = nil) -> ClinicError {
        ClinicError(.invalid, why, hint: hint)
    }
}
