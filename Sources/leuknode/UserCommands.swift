import ArgumentParser
import LeukAPI
import LeukClinic
import Foundation

struct User: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the clinic's users (admins, doctors, patients) on the running node.",
        subcommands: [Add.self, List.self, Revoke.self, Disable.self, Enable.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user.",
            discussion: "Uses the operator token in DATA_DIR/admin.token, so it works on a fresh node with no users yet.")

        @OptionGroup var options: ClinicOptions
        @Option(help: "admin, doctor or patient.") var role: String
        @Option(help: "A unique name (letters, digits, '.', '_', '-', '@').") var name: String
        @Flag(help: "Read the password from standard input instead of prompting.") var passwordStdin = false

        func validate() throws {
            guard Components.Schemas.Role(rawValue: role) != nil else { throw ValidationError("--role must be admin, doctor or patient") }
            guard !name.isEmpty else { throw ValidationError("--name must not be empty") }
        }

        func run() async throws {
            let password = try readPassword(fromStdin: passwordStdin, prompt: "Password for \(name): ")
            try await reportingErrors {
                let request = Components.Schemas.CreateUserRequest(name: name, role: Components.Schemas.Role(rawValue: role) ?? .patient,
                                                                   password: password)
                let user = try await options.api(.operatorFirst) { try await $0.createUser(body: .json(request)).created.body.json }
                try options.output(user) { print("Created \($0.role.rawValue) '\($0.name)' (\($0.id))") }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users (admins: everyone; doctors: their patients).")
        @OptionGroup var options: ClinicOptions

        func run() async throws {
            try await reportingErrors {
                let users = try await options.api(.operatorFirst) { try await $0.listUsers().ok.body.json }
                try options.output(users) { users in
                    printTable(["NAME", "ROLE", "ID", "LOCKED", "DISABLED"], users.map {
                        [$0.name, $0.role.rawValue, $0.id, $0.locked_until.map(shortTime) ?? "", $0.disabled == true ? "yes" : ""]
                    })
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End every session of a user (admin).")
        @OptionGroup var options: ClinicOptions
        @Argument(help: "The user's name or id.") var user: String

        func run() async throws {
            try await reportingErrors {
                let result = try await options.api(.operatorFirst) { try await $0.revokeSessions(path: .init(id: user)).ok.body.json }
                try options.output(result) { print("Ended \($0.revoked) session(s) of \(user)") }
            }
        }
    }
}

extension User {
    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable an account (admin): no login, every session ends. `user enable` undoes it.")
        @OptionGroup var options: ClinicOptions
        @Argument(help: "The user's name or id.") var user: String

        func run() async throws { try await User.setDisabled(true, user: user, options: options) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled account again (admin).")
        @OptionGroup var options: ClinicOptions
        @Argument(help: "The user's name or id.") var user: String

        func run() async throws { try await User.setDisabled(false, user: user, options: options) }
    }

    /// `user disable` and `user enable`: one call each, the same output.
    static func setDisabled(_ disabled: Bool, user: String, options: ClinicOptions) async throws {
        try await reportingErrors {
            let result = try await options.api(.operatorFirst) { client in
                disabled ? try await client.disableUser(path: .init(id: user)).ok.body.json
                    : try await client.enableUser(path: .init(id: user)).ok.body.json
            }
            try options.output(result) { print("\(disabled ? "Disabled" : "Enabled") \($0.role.rawValue) '\($0.name)'") }
        }
    }
}

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log in to the running node's clinic.",
        discussion: "Stores the session token in $LEUKNODE_SESSION, else ~/.leuknode-session (mode 0600). The session ends after 15 idle minutes.")

    @OptionGroup var options: ClinicOptions
    @Option(help: "Your user name.") var name: String
    @Flag(help: "Read the password from standard input instead of prompting.") var passwordStdin = false

    func run() async throws {
        let password = try readPassword(fromStdin: passwordStdin, prompt: "Password: ")
        try await reportingErrors {
            let result = try await options.api(.none) { try await $0.login(body: .json(.init(name: name, password: password))).ok.body.json }
            try SessionFile.save(result.token)
            if options.json {
                try options.output(result.user) { _ in }
            } else {
                print("Logged in as \(result.user.name) (\(result.user.role.rawValue)); session saved in \(SessionFile.path)")
            }
        }
    }
}

struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "End your session and forget its token.")
    @OptionGroup var options: ClinicOptions

    func run() async throws {
        try await reportingErrors {
            do {
                _ = try await options.api(.session) { try await $0.logout().noContent }
            } catch let error as LeukAPI.APIClientError where error.status == 401 {
                // Already expired or revoked on the node: forgetting the token is all that is left.
            }
            SessionFile.remove()
            print("Logged out")
        }
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check and read the node's hash-chained audit log (operator or admin).",
        subcommands: [Verify.self, Log.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify every entry and link of the audit chain; exits 1 when it was tampered with.")
        @OptionGroup var options: ClinicOptions

        func run() async throws {
            let result = try await reportingErrors {
                try await options.api(.operatorFirst) { try await $0.verifyAudit().ok.body.json }
            }
            try options.output(result) { result in
                if result.ok {
                    print("Audit log intact: \(result.entries) entries, every link verified")
                } else {
                    print("AUDIT LOG TAMPERED (\(result.entries) readable entries):")
                    for problem in result.problems { print("  - \(problem)") }
                }
            }
            if !result.ok { throw ExitCode.failure }
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print audit entries in order.")
        @OptionGroup var options: ClinicOptions
        @Option(help: "Only entries after this sequence number.") var after: Int64?
        @Option(help: "At most this many entries (1 to 10000).") var limit: Int = 100
        @Option(help: "Only entries about this patient (name or id).") var patient: String?

        func validate() throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 10000") }
            if let after, after < 0 { throw ValidationError("--after must not be negative") }
        }

        func run() async throws {
            try await reportingErrors {
                let query = Operations.auditLog.Input.Query(after: after, limit: limit, patient: patient)
                let entries = try await options.api(.operatorFirst) { try await $0.auditLog(query: query).ok.body.json }
                try options.output(entries) { entries in
                    printTable(["SEQ", "TIME", "ACTOR", "ACTION", "OUTCOME", "PATIENT", "DETAIL"], entries.map {
                        [String($0.seq), shortTime($0.time), "\($0.actor_id) (\($0.actor_role))", $0.action, $0.outcome.rawValue, $0.patient_id ?? "",
                         $0.detail]
                    })
                }
            }
        }
    }
}
