import Hummingbird
import HTTPTypes
import LeukClinic
import LeukCore
import LeukCrypto
import Logging
import Foundation

/// Headers every portal answer carries, error pages included: a strict Content-Security-Policy (scripts
/// and styles from this origin only, so no inline script runs even if markup were ever injected), no
/// MIME sniffing, no framing (both the CSP directive and the older header), no referrer leaving the
/// origin (`same-origin`, not `no-referrer`: under `no-referrer` Chrome sends `Origin: null` on the portal's own
/// form posts, which the same-origin check must refuse), no caching of pages that show clinical content, and HSTS under TLS.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    let secure: Bool

    static var contentSecurityPolicy: String {
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[HTTPField.Name("Content-Security-Policy")!] = Self.contentSecurityPolicy
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        response.headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        if secure { response.headers[HTTPField.Name("Strict-Transport-Security")!] = "max-age=31536000" }
        return response
    }
}

/// Turns what escapes a page handler (an unknown path, a wrong method, a body over the limit, a bug) into
/// an HTML page with the right status; handlers render the clinic's own refusals themselves.
struct PortalErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let pages: PageRenderer
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            if error.status == .notFound || error.status == .methodNotAllowed { return pages.notFound(session: nil) }
            return pages.problem(status: error.status, message: error.body ?? error.status.reasonPhrase, session: nil)
        } catch let refusal as PortalRefusal {
            return pages.refusal(refusal, session: nil)
        } catch {
            logger.error("portal: unexpected error in \(request.method.rawValue) \(request.uri.path): \(error)")
            return pages.problem(status: .internalServerError, message: "the node failed to show this page; its log has the details",
                                 session: nil)
        }
    }
}

/// A request the portal refuses before any clinic method runs.
enum PortalRefusal: Error, Equatable {
    /// A state-changing request from another site (Origin or Sec-Fetch-Site say so).
    case crossSite
    /// A form without this session's CSRF token (or with another one).
    case csrf
    /// A bearer token: the portal signs people in with a password and a cookie only.
    case bearerToken
    /// A body over the page's limit.
    case tooLarge(Int)
    /// A body that is not the form the page sent.
    case unreadableForm(String)

    var status: HTTPResponse.Status {
        switch self {
        case .crossSite, .csrf: return .forbidden
        case .bearerToken: return .unauthorized
        case .tooLarge: return .contentTooLarge
        case .unreadableForm: return .badRequest
        }
    }

    var message: String {
        switch self {
        case .crossSite: return "This form was refused: it was sent from another site. Open the page in the portal and send it from there."
        case .csrf: return "This form was refused: it did not carry this session's form token (it may come from another site, or from before you signed in again). Open the page again and resend it."
        case .bearerToken: return "The portal does not accept bearer tokens (neither API sessions nor the operator token). Sign in with your user name and password."
        case let .tooLarge(limit): return "The form is larger than this page accepts (\(limit / 1024) KiB)."
        case let .unreadableForm(why): return "The form could not be read: \(why)."
        }
    }
}

/// Session cookies, CSRF tokens and the same-origin check.
enum PortalGuard {
    /// The session cookie: the clinic's session token itself (the node stores only its hash), so the API's
    /// rules for sessions (idle log-off, revocation, lockout) hold unchanged.
    static let sessionCookie = "leuknode_session"
    /// Holds a random value the sign-in form repeats, so even the sign-in form cannot be posted from elsewhere.
    static let signInCookie = "leuknode_signin"

    static func sessionCookie(_ token: String, secure: Bool) -> Cookie {
        Cookie(name: sessionCookie, value: token, path: "/", secure: secure, httpOnly: true, sameSite: .strict)
    }

    static func expiredCookie(_ name: String, secure: Bool) -> Cookie {
        Cookie(name: name, value: "", expires: Date(timeIntervalSince1970: 0), maxAge: 0, path: name == signInCookie ? "/signin" : "/",
               secure: secure,
               httpOnly: true, sameSite: .strict)
    }

    static func signInCookie(_ value: String, secure: Bool) -> Cookie {
        Cookie(name: signInCookie, value: value, path: "/signin", secure: secure, httpOnly: true, sameSite: .strict)
    }

    /// The CSRF token of a session: derived from the secret session token, so it needs no storage, survives a
    /// restart of the node, and another site (which cannot read the HttpOnly cookie) cannot compute it.
    static func csrfToken(forSession token: String) -> String {
        Hex.encode(SHA256Hasher.hash(Array(("leuknode/v1/portal-csrf\n" + token).utf8)))
    }

    /// Constant-time comparison of a submitted token with the expected one.
    static func tokensMatch(_ submitted: String?, _ expected: String) -> Bool {
        guard let submitted, !expected.isEmpty else { return false }
        return constantTimeEquals(Array(submitted.utf8), Array(expected.utf8))
    }

    static func randomToken() -> String { Hex.encode(randomBytes(32)) }

    /// False when the browser says the request comes from another site: `Sec-Fetch-Site` other than
    /// `same-origin` or `none` (typed address, bookmark), or an `Origin` whose host and port differ from the
    /// `Host` the request was sent to. Ports count: a page on 127.0.0.1:OTHER is same-site but not same-origin.
    static func isSameOrigin(_ request: Request) -> Bool {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site != "same-origin", site != "none" {
            return false
        }
        guard let origin = request.headers[HTTPField.Name("Origin")!] else { return true }
        guard let host = request.head.authority, let scheme = origin.range(of: "://") else { return false }
        return origin[scheme.upperBound...].lowercased() == host.lowercased()
    }
}
