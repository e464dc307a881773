import Foundation
import Testing
import ClinicTestSupport
@testable import LeukClinic

@Suite struct DisableUserTests {
    @Test func aDisabledAccountCannotSignInAndLosesItsSessionsUntilEnabled() async throws {
        let f = try ClinicFixture()
        let ana = try await f.user("ana", .patient, password: "ana password")
        let root = try await f.user("root", .admin)
        let grey = try await f.user("dr.grey", .doctor)
        let stream = f.clinic.events.subscribe(userID: ana.userID)

        #expect(await errorKind { _ = try await f.clinic.setDisabled(by: grey, userID: "ana", disabled: true) } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.setDisabled(by: root, userID: "root", disabled: true) } == .invalid)
        #expect(await errorKind { _ = try await f.clinic.setDisabled(by: root, userID: "nobody", disabled: true) } == .notFound)

        let disabled = try await f.clinic.setDisabled(by: root, userID: "ana", disabled: true)
        #expect(disabled.disabled == true)
        #expect(await f.clinic.sessionIsLive(ana) == false)
        for await _ in stream {}  // the event stream was closed: the loop ends
        do {
            _ = try await f.clinic.login(name: "ana", password: "ana password")
            Issue.record("a disabled account signed in")
        } catch {
            #expect(error.kind == .unauthenticated)
            #expect(error.description.contains("disabled"))
        }

        // The flag survives a restart (UserRecord format 2).
        let reopened = try Clinic(store: f.storage.store, classifier: MeanRedClassifier(), clock: f.clock,
                                  configuration: ClinicConfiguration(passwordHasher: cheapHasher), operatorToken: f.token)
        #expect(try await reopened.listUsers(by: f.operatorCaller).first { $0.name == "ana" }?.disabled == true)

        let enabled = try await f.clinic.setDisabled(by: root, userID: "ana", disabled: false)
        #expect(enabled.disabled == nil)
        _ = try await f.clinic.login(name: "ana", password: "ana password")

        let actions = try await f.clinic.auditLog(by: f.operatorCaller, limit: 1000).map { "\($0.action) \($0.outcome)" }
        #expect(actions.contains("user.disable denied"))
        #expect(actions.contains("user.disable ok"))
        #expect(actions.contains("user.enable ok"))
        #expect(actions.contains("login denied"))
    }
}
