import ArgumentParser
import LeukAPI
import LeukClinic
import LeukNode
import OpenAPIRuntime
import Foundation

struct DiagnosisCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnosis",
        abstract: "Diagnoses stored by the running node (doctors: their patients'; patients: their released results).",
        subcommands: [List.self, Show.self, Review.self, Release.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List diagnoses you may see.")
        @OptionGroup var options: ClinicOptions
        @Option(help: "Only this patient's (name or id).") var patient: String?

        func run() async throws {
            try await reportingErrors {
                let list = try await options.api(.session) { try await $0.listDiagnoses(query: .init(patient: patient)).ok.body.json }
                try options.output(list) { list in
                    printTable(["ID", "DATE", "PATIENT", "PREDICTED", "P(ALL)", "FOLLOW-UP", "STATE"], list.map {
                        [$0.id, shortTime($0.created_at), $0.patient_name, $0.predicted,
                         String(format: "%.3f", $0.probabilities.additionalProperties["all"] ?? .nan), $0.follow_up.rawValue, $0.review_state.rawValue]
                    })
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one diagnosis in full.")
        @OptionGroup var options: ClinicOptions
        @Argument(help: "The diagnosis id.") var id: String

        func run() async throws {
            try await reportingErrors {
                let d = try await options.api(.session) { try await $0.getDiagnosis(path: .init(id: id)).ok.body.json }
                try options.output(d, human: printDiagnosis)
            }
        }
    }

    struct Review: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add your note to a diagnosis (its doctor).")
        @OptionGroup var options: ClinicOptions
        @Argument(help: "The diagnosis id.") var id: String
        @Option(help: "The note.") var note: String

        func run() async throws {
            try await reportingErrors {
                let d = try await options.api(.session) {
                    try await $0.reviewDiagnosis(path: .init(id: id), body: .json(.init(note: note))).ok.body.json
                }
                try options.output(d) { print("Diagnosis \($0.id) is \($0.review_state.rawValue)") }
            }
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Release a diagnosis to its patient (its doctor).")
        @OptionGroup var options: ClinicOptions
        @Argument(help: "The diagnosis id.") var id: String
        @Option(help: "A final note for the patient.") var note: String?

        func run() async throws {
            try await reportingErrors {
                let d = try await options.api(.session) {
                    try await $0.releaseDiagnosis(path: .init(id: id), body: note.map { .json(.init(note: $0)) }).ok.body.json
                }
                try options.output(d) { print("Released diagnosis \($0.id) to \($0.patient_name)") }
            }
        }
    }
}

func printDiagnosis(_ d: Components.Schemas.Diagnosis) {
    print("Diagnosis \(d.id)")
    print("  patient:    \(d.patient_name) (\(d.patient_id))")
    print("  doctor:     \(d.doctor_name) (\(d.doctor_id))")
    print("  date:       \(ISO8601.format(d.created_at))")
    print("  image:      \(d.image_file_name), \(d.image_bytes) bytes, sha256 \(d.image_sha256)")
    print("  predicted:  \(d.predicted)")
    for (label, p) in d.probabilities.additionalProperties.sorted(by: { $0.key < $1.key }) { print("    \(label): \(String(format: "%.4f", p))") }
    print("  model:      v\(d.model_version) sha256 \(d.model_sha256) (\(String(format: "%.1f", d.response_time_ms)) ms)")
    print("  follow-up:  \(d.follow_up.rawValue)\(d.appointment_id.map { ", appointment \($0)" } ?? "")")
    print("  state:      \(d.review_state.rawValue)\(d.released_at.map { " on \(ISO8601.format($0))" } ?? "")")
    if !d.note.isEmpty { print("  note:       \(d.note)") }
}

/// `leuknode diagnose --patient NAME IMAGE... [--json]`: each image goes to the running node, which
/// classifies it with its current federated model, stores the diagnosis for the patient and
/// proposes a follow-up appointment when the outcome calls for one.
///
/// The `diagnose` command (Sources/leuknode/DiagnoseCommand.swift) calls this when `--patient` is
/// given; without it, `--model MODEL` classifies offline.
func diagnoseThroughNode(patient: String, images: [String], json: Bool, dataDir: String?) async throws {
    struct Result: Encodable {
        var image: String
        var prediction: String
        var probabilities: [String: Double]
        var responseTimeMs: Double
        var diagnosisID: String
        var followUp: Components.Schemas.Diagnosis.follow_upPayload
        var appointment: Components.Schemas.Appointment?
        var warning: String?
        enum CodingKeys: String, CodingKey {
            case image, prediction, probabilities, responseTimeMs = "response_time_ms", diagnosisID = "diagnosis_id"
            case followUp = "follow_up", appointment, warning
        }
    }
    struct Report: Encodable {
        var patient: String
        var modelSHA256: String
        var modelVersion: Int
        var results: [Result]
        enum CodingKeys: String, CodingKey {
            case patient, modelSHA256 = "model_sha256", modelVersion = "model_version", results
        }
    }
    let options = ClinicContext(dataDir: dataDir, json: json)
    try await reportingErrors {
        var report = Report(patient: patient, modelSHA256: "", modelVersion: 0, results: [])
        for path in images {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CLIFailure("cannot read the image \(path)", hint: "check the path and its permissions")
            }
            let request = Components.Schemas.DiagnoseRequest(patient: patient, file_name: (path as NSString).lastPathComponent,
                                                             image_base64: Base64EncodedData(Array(data)))
            let outcome = try await options.api(.session) { try await $0.diagnose(body: .json(request)).created.body.json }
            let d = outcome.diagnosis
            let probabilities = d.probabilities.additionalProperties
            report.modelSHA256 = d.model_sha256
            report.modelVersion = d.model_version
            report.results.append(Result(image: path, prediction: d.predicted, probabilities: probabilities, responseTimeMs: d.response_time_ms,
                                         diagnosisID: d.id, followUp: d.follow_up, appointment: outcome.appointment, warning: outcome.warning))
            if !json {
                let p = probabilities.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.3f", $0.value))" }.joined(separator: " ")
                print("\(path): \(d.predicted) (\(p)), follow-up \(d.follow_up.rawValue), diagnosis \(d.id)")
                if let a = outcome.appointment {
                    print("  proposed appointment \(a.id) with \(a.doctor_name) at \(shortTime(a.start))"
                        + (a.within_deadline == false ? " (later than the \(a.follow_up.rawValue) deadline: find an earlier slot)" : ""))
                }
                if let warning = outcome.warning { print("  warning: \(warning)") }
            }
        }
        if json {
            try options.output(report) { _ in }
        } else if !report.results.isEmpty {
            print("model v\(report.modelVersion) sha256 \(report.modelSHA256)")
        }
    }
}
