import Foundation
import ClinicTestSupport
import LeukClinic
import LeukCore
import LeukData
import LeukMetrics
@testable import LeukNode
import Testing

/// The clinic's error contract against the node's real classifier (the federated CNN), not a double:
/// a fake classifier once hid that a bad upload came back as 503.
@Suite struct ClassifierContractTests {
    struct Clinicians {
        let node: NodeFixture
        let serving: ModelServing
        let clinic: Clinic
        let doctor: Caller
        let patientName = "pat"

        /// `serve`: the fixture has no validation split, so under the default rule (`follow`) the gate
        /// serves the merged model unchecked; without it nothing is served.
        init(serve: Bool = true) async throws {
            node = try NodeFixture()
            serving = try ModelServing(store: node.store, gate: PromotionGate())
            if serve { try await serving.review(candidate: await node.federation.currentSnapshot(), figures: nil) }
            let token = try OperatorToken.loadOrCreate(inDataDirectory: node.directory)
            clinic = try Clinic(store: node.store, classifier: NodeClassifier(diagnoser: ModelDiagnoser(serving: serving, threads: 1)),
                                configuration: ClinicConfiguration(passwordHasher: cheapHasher), operatorToken: token)
            let admin = Caller(userID: Caller.operatorID, name: Caller.operatorID, role: .admin, isOperator: true, sessionKey: nil)
            _ = try await clinic.createUser(by: admin, name: "doc", role: .doctor, password: "correct horse")
            _ = try await clinic.createUser(by: admin, name: patientName, role: .patient, password: "correct horse")
            doctor = try await clinic.authenticate(bearer: try await clinic.login(name: "doc", password: "correct horse").token)
        }
    }

    @Test(arguments: [
        ("not an image at all", [UInt8]("hello, this is text".utf8)),
        ("truncated PNG", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] as [UInt8]),
    ])
    func aBadUploadIsTheUploadersToFixNotUnavailable(_ name: String, _ bytes: [UInt8]) async throws {
        let setup = try await Clinicians()
        do {
            _ = try await setup.clinic.diagnose(by: setup.doctor, patient: setup.patientName, image: bytes, fileName: "cell.png")
            Issue.record("\(name) was accepted")
        } catch {
            // `.invalid` is HTTP 422 at the API; before the fix this was `.unavailable` (503).
            #expect(error.kind == .invalid, "\(name): \(error.description)")
            #expect(error.description.contains("could not be read"))
        }
    }

    @Test func aRealImageIsDiagnosedByTheFederatedModel() async throws {
        let setup = try await Clinicians()
        let pixels = (0..<(24 * 24)).flatMap { i -> [UInt8] in [UInt8(i % 256), 80, 160] }
        let png = try ImageEncoder.png(width: 24, height: 24, channels: .rgb, samples: pixels)
        let outcome = try await setup.clinic.diagnose(by: setup.doctor, patient: setup.patientName, image: png, fileName: "cell.png")
        let total = outcome.diagnosis.probabilities.values.reduce(0, +)
        #expect(abs(total - 1) < 1e-4)
        #expect(outcome.diagnosis.modelVersion == (await setup.serving.servedVersion()))
    }

    @Test func withNothingServedADiagnosisIsUnavailableAndSaysWhy() async throws {
        let setup = try await Clinicians(serve: false)
        let png = try ImageEncoder.png(width: 8, height: 8, channels: .rgb, samples: [UInt8](repeating: 90, count: 8 * 8 * 3))
        do {
            _ = try await setup.clinic.diagnose(by: setup.doctor, patient: setup.patientName, image: png, fileName: "cell.png")
            Issue.record("a diagnosis was made with no served model")
        } catch {
            #expect(error.kind == .unavailable)
            #expect(error.description.contains("promotion floors"))
        }
    }
}
