import ArgumentParser
import LeukAPI
import LeukClinic
import LeukNode
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
                let list = try await options.client(.session).call(.get, pathWithQuery("/v1/diagnoses", [("patient", patient)]), as: [DiagnosisInfo].self)
                try options.output(list) { list in
                    printTable(["ID", "DATE", "PATIENT", "PREDICTED", "P(ALL)", "FOLLOW-UP", "STATE"], list.map {
                        [$0.id, shortTime($0.createdAt), $0.patientName, $0.predicted, String(format: "%.3f", $0.probabilities["all"] ?? .nan),
                         $0.followUp.rawValue, $0.reviewState.rawValue]
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
                let d = try await options.client(.session).call(.get, "/v1/diagnoses/\(queryValue(id))", as: DiagnosisInfo.self)
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
                let d = try await options.client(.session).call(.post, "/v1/diagnoses/\(queryValue(id))/review", body: ["note": note], as: DiagnosisInfo.self)
                try options.output(d) { print("Diagnosis \($0.id) is \($0.reviewState.rawValue)") }
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
                let body: [String: String]? = note.map { ["note": $0] }
                let d = try await options.client(.session).call(.post, "/v1/diagnoses/\(queryValue(id))/release", body: body, as: DiagnosisInfo.self)
                try options.output(d) { print("Released diagnosis \($0.id) to \($0.patientName)") }
            }
        }
    }
}

func printDiagnosis(_ d: DiagnosisInfo) {
    print("Diagnosis \(d.id)")
    print("  patient:    \(d.patientName) (\(d.patientID))")
    print("  doctor:     \(d.doctorName) (\(d.doctorID))")
    print("  date:       \(ISO8601.format(d.createdAt))")
    print("  image:      \(d.imageFileName), \(d.imageBytes) bytes, sha256 \(d.imageSHA256)")
    print("  predicted:  \(d.predicted)")
    for (label, p) in d.probabilities.sorted(by: { $0.key < $1.key }) { print("    \(label): \(String(format: "%.4f", p))") }
    print("  model:      v\(d.modelVersion) sha256 \(d.modelSHA256) (\(String(format: "%.1f", d.responseTimeMs)) ms)")
    print("  follow-up:  \(d.followUp.rawValue)\(d.appointmentID.map { ", appointment \($0)" } ?? "")")
    print("  state:      \(d.reviewState.rawValue)\(d.releasedAt.map { " on \(ISO8601.format($0))" } ?? "")")
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
        var followUp: FollowUp
        var appointment: AppointmentInfo?
        var warning: String?
        enum CodingKeys: String, CodingKey {
            case image, prediction, probabilities, responseTimeMs = "response_time_ms", diagnosisID = "diagnosis_id"
            case followUp = "follow_up", appointment, warning
        }
    }
    struct Report: Encodable {
        var patient: String
        var modelSHA256: String
        var modelVersion: UInt64
        var results: [Result]
        enum CodingKeys: String, CodingKey {
            case patient, modelSHA256 = "model_sha256", modelVersion = "model_version", results
        }
    }
    let options = ClinicContext(dataDir: dataDir, json: json)
    try await reportingErrors {
        let client = try options.client(.session)
        var report = Report(patient: patient, modelSHA256: "", modelVersion: 0, results: [])
        for path in images {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CLIFailure("cannot read the image \(path)", hint: "check the path and its permissions")
            }
            let outcome = try await client.call(.post, "/v1/diagnoses", body: [
                "patient": patient, "file_name": (path as NSString).lastPathComponent, "image_base64": data.base64EncodedString(),
            ], as: DiagnosisOutcome.self)
            let d = outcome.diagnosis
            report.modelSHA256 = d.modelSHA256
            report.modelVersion = d.modelVersion
            report.results.append(Result(image: path, prediction: d.predicted, probabilities: d.probabilities, responseTimeMs: d.responseTimeMs,
                                         diagnosisID: d.id, followUp: d.followUp, appointment: outcome.appointment, warning: outcome.warning))
            if !json {
                let p = d.probabilities.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.3f", $0.value))" }.joined(separator: " ")
                print("\(path): \(d.predicted) (\(p)), follow-up \(d.followUp.rawValue), diagnosis \(d.id)")
                if let a = outcome.appointment {
                    print("  proposed appointment \(a.id) with \(a.doctorName) at \(shortTime(a.start))"
                        + (a.withinDeadline == false ? " (later than the \(a.followUp.rawValue) deadline: find an earlier slot)" : ""))
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
