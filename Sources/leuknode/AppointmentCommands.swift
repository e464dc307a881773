import ArgumentParser
import LeukAPI
import LeukClinic
import Foundation

func printAppointments(_ list: [Components.Schemas.Appointment]) {
    printTable(["ID", "START", "PATIENT", "DOCTOR", "STATE", "FOLLOW-UP", "REASON"], list.map {
        [$0.id, shortTime($0.start), $0.patient_name, $0.doctor_name, $0.state.rawValue, $0.follow_up.rawValue, $0.reason]
    })
}

func describe(_ a: Components.Schemas.Appointment) -> String {
    "Appointment \(a.id): \(a.patient_name) with \(a.doctor_name) at \(shortTime(a.start)), \(a.state.rawValue)"
}

/// Parses `--start`/`--end` values: ISO 8601, as everywhere in the API.
func isoDate(_ text: String, flag: String) throws -> Date {
    guard let date = ISO8601.parse(text) else {
        throw ValidationError("\(flag) must be an ISO 8601 date-time like 2026-12-01T09:30:00Z, not '\(text)'")
    }
    return date
}

struct Appointment: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Book and manage follow-up appointments on the running node.",
        subcommands: [List.self, Book.self, Confirm.self, Reschedule.self, Cancel.self, Complete.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List your appointments.")
        @OptionGroup var options: ClinicOptions
        @Option(help: "Only this patient's (doctors; name or id).") var patient: String?

        func run() async throws {
            try await reportingErrors {
                let list = try await options.api(.session) { try await $0.listAppointments(query: .init(patient: patient)).ok.body.json }
                try options.output(list, human: printAppointments)
            }
        }
    }

    struct Book: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Book a free slot (patients for themselves; doctors in their own slot for --patient).",
            discussion: "Find free slots with `leuknode slot list --free`.")
        @OptionGroup var options: ClinicOptions
        @Option(help: "The slot id.") var slot: String
        @Option(help: "The patient (doctors only; name or id).") var patient: String?
        @Option(help: "Why (shown to both).") var reason: String?

        func run() async throws {
            try await reportingErrors {
                let a = try await options.api(.session) {
                    try await $0.book(body: .json(.init(slot: slot, patient: patient.map { .init(value1: $0) }, reason: reason))).created.body.json
                }
                try options.output(a) { print(describe($0)) }
            }
        }
    }

    /// Shared by the state changes: `call` makes the request, the changed appointment is printed.
    static func change(_ options: ClinicOptions, _ call: (Client) async throws -> Components.Schemas.Appointment) async throws {
        try await reportingErrors {
            let a = try await options.api(.session, call)
            try options.output(a) { print(describe($0)) }
        }
    }

    struct Confirm: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Confirm a requested or rescheduled appointment (its doctor).")
        @OptionGroup var options: ClinicOptions
        @Argument(help: "The appointment id.") var id: String
        func run() async throws { try await Appointment.change(options) { try await $0.confirmAppointment(path: .init(id: id)).ok.body.json } }
    }

    struct Reschedule: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move an appointment to another free slot of the same doctor.")
        @OptionGroup var options: ClinicOptions
        @Argument(help: "The appointment id.") var id: String
        @Option(help: "The new slot id.") var slot: String
        func run() async throws {
            try await Appointment.change(options) {
                try await $0.rescheduleAppointment(path: .init(id: id), body: .json(.init(slot: slot))).ok.body.json
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel an appointment; its slot is free again.")
        @OptionGroup var options: ClinicOptions
        @Argument(help: "The appointment id.") var id: String
        @Option(help: "Why.") var reason: String?
        func run() async throws {
            try await Appointment.change(options) {
                try await $0.cancelAppointment(path: .init(id: id), body: reason.map { .json(.init(reason: $0)) }).ok.body.json
            }
        }
    }

    struct Complete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark a confirmed appointment as held (its doctor).")
        @OptionGroup var options: ClinicOptions
        @Argument(help: "The appointment id.") var id: String
        func run() async throws { try await Appointment.change(options) { try await $0.completeAppointment(path: .init(id: id)).ok.body.json } }
    }
}

struct Slot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Doctors' availability slots.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish a slot when you are available (doctors).")
        @OptionGroup var options: ClinicOptions
        @Option(help: "Start, ISO 8601 (2026-12-01T09:30:00Z).") var start: String
        @Option(help: "End, ISO 8601; or give --minutes.") var end: String?
        @Option(help: "Length in minutes, instead of --end.") var minutes: Int?

        func validate() throws {
            _ = try isoDate(start, flag: "--start")
            if let end { _ = try isoDate(end, flag: "--end") }
            guard (end == nil) != (minutes == nil) else { throw ValidationError("give either --end or --minutes") }
            if let minutes, !(1...720).contains(minutes) { throw ValidationError("--minutes must be from 1 to 720") }
        }

        func run() async throws {
            let startDate = try isoDate(start, flag: "--start")
            let endDate = try end.map { try isoDate($0, flag: "--end") } ?? startDate.addingTimeInterval(Double(minutes ?? 0) * 60)
            try await reportingErrors {
                let slot = try await options.api(.session) { try await $0.addSlot(body: .json(.init(start: startDate, end: endDate))).created.body.json }
                try options.output(slot) { print("Slot \($0.id): \(shortTime($0.start)) to \(shortTime($0.end))") }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List slots in time order.")
        @OptionGroup var options: ClinicOptions
        @Option(help: "Only this doctor's (name or id).") var doctor: String?
        @Flag(help: "Only free slots.") var free = false
        @Option(help: "Only slots from this ISO 8601 time on.") var from: String?

        func validate() throws {
            if let from { _ = try isoDate(from, flag: "--from") }
        }

        func run() async throws {
            try await reportingErrors {
                let since = try from.map { try isoDate($0, flag: "--from") }
                let slots = try await options.api(.session) {
                    try await $0.listSlots(query: .init(doctor: doctor, free: free ? true : nil, from: since)).ok.body.json
                }
                try options.output(slots) { slots in
                    printTable(["ID", "START", "END", "DOCTOR", "BOOKED"], slots.map {
                        [$0.id, shortTime($0.start), shortTime($0.end), $0.doctor_name, $0.booked ? "yes" : "no"]
                    })
                }
            }
        }
    }
}

extension Slot {
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Withdraw one of your free slots (doctors).",
            discussion: "A booked slot stays until its appointment is cancelled or moved; a slot a cancelled appointment names stays too.")
        @OptionGroup var options: ClinicOptions
        @Argument(help: "The slot's id (slt_...).") var slot: String

        func run() async throws {
            try await reportingErrors {
                let removed = try await options.api(.session) { try await $0.removeSlot(path: .init(id: slot)).ok.body.json }
                try options.output(removed) { print("Removed slot \($0.id): \(shortTime($0.start)) to \(shortTime($0.end))") }
            }
        }
    }
}

struct Message: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk in an appointment's thread (its patient and its doctor).",
        subcommands: [Send.self, List.self, Watch.self])

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a message.")
        @OptionGroup var options: ClinicOptions
        @Argument(help: "The appointment id.") var appointment: String
        @Argument(help: "The message.") var text: String

        func run() async throws {
            try await reportingErrors {
                let m = try await options.api(.session) {
                    try await $0.sendMessage(path: .init(id: appointment), body: .json(.init(body: text))).created.body.json
                }
                try options.output(m) { print("Sent (\($0.id))") }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an appointment's thread, oldest first.")
        @OptionGroup var options: ClinicOptions
        @Argument(help: "The appointment id.") var appointment: String

        func run() async throws {
            try await reportingErrors {
                let thread = try await options.api(.session) { try await $0.listMessages(path: .init(id: appointment)).ok.body.json }
                try options.output(thread) { thread in
                    for m in thread { print("[\(shortTime(m.sent_at))] \(m.sender_name): \(m.body)") }
                }
            }
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show new messages and appointment changes as they arrive (Ctrl-C to stop).")
        @OptionGroup var options: ClinicOptions
        @Option(help: "Only this appointment's.") var appointment: String?

        func run() async throws {
            try await reportingErrors {
                let client = try options.client(.session)
                let path = pathWithQuery("/v1/events", [("appointment", appointment)])
                for try await event in client.events(path) {
                    if event.isComment { continue }
                    if event.event == "session-ended" {
                        throw CLIFailure("your session ended (logged out, revoked, or idle for 15 minutes)",
                                         hint: "log in again with `leuknode login --name NAME`")
                    }
                    if event.event == "ready" {
                        if !options.json { printError("watching\(appointment.map { " appointment \($0)" } ?? " your appointments") (Ctrl-C to stop)") }
                        continue
                    }
                    // Written unbuffered, so a pipe (`| tee`, a test) sees each event as it arrives.
                    if options.json {
                        emitLine(event.data)
                    } else if let decoded = try? APIClient.decoder().decode(Components.Schemas.ClinicEvent.self, from: Data(event.data.utf8)) {
                        if let m = decoded.message {
                            emitLine("[\(shortTime(m.sent_at))] \(m.sender_name) on \(m.appointment_id): \(m.body)")
                        } else if let a = decoded.appointment {
                            emitLine("[\(shortTime(a.updated_at))] \(describe(a))")
                        }
                    }
                }
                throw CLIFailure("the node closed the event stream", hint: "your session may have been revoked; log in again")
            }
        }
    }
}

/// Writes one line to standard output at once (no stdio buffering).
func emitLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
