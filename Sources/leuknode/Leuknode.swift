import ArgumentParser
import Foundation
import LeukTensor

/// The `leuknode` command line. Each subcommand is one type named for its verb, in its own file;
/// `run()` builds a request and hands it to a library module.
@main
struct Leuknode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leuknode",
        abstract: "A federated leukemia-screening node: train on local blood-smear images, average models with admitted peers, diagnose and book follow-ups.",
        version: LeuknodeVersion.current,
        subcommands: [
            Init.self,
            Id.self,
            Start.self,
            Status.self,
            Peer.self,
            ModelCommand.self,
            DatasetCommand.self,
            Train.self,
            Evaluate.self,
            Diagnose.self,
            Bench.self,
            User.self,
            Login.self,
            Logout.self,
            DiagnosisCommand.self,
            Appointment.self,
            Slot.self,
            Message.self,
            Audit.self,
            Simulate.self,
            Demo.self,
            Report.self,
            NetBench.self,
            ClinicBench.self,
        ]
    )

    /// Before anything else (and before OpenBLAS spawns threads), make sure OpenBLAS runs the kernel
    /// this CPU deserves, and that the engine's kernel set (`LEUKNODE_KERNELS`) can be honoured: Debian's 0.3.21 falls back to a 2-3x slower SSE3 kernel on CPUs it does not
    /// recognise, and only an environment variable set before it loads can change that (`BLASKernel`).
    static func main() async {
        BLASKernel.relaunchWithBetterKernelIfNeeded()
        // LEUKNODE_KERNELS is read here, once; a value this CPU cannot honour stops the program now.
        do {
            _ = try VectorKernels.checkProcessSelection()
        } catch {
            CLIOutput.failure(error)
            exit(withError: ExitCode(2))
        }
        guard CLIOutput.json else { return await main(nil) }
        // With --json, even a usage error is one JSON object on standard error (`CLIOutput`).
        do {
            var command = try parseAsRoot(nil)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is ExitCode { exit(withError: error) }
            CLIOutput.failure(fullMessage(for: error).replacingOccurrences(of: "Error: ", with: ""), hint: "see `leuknode help`")
            exit(withError: ExitCode(code.rawValue))
        }
    }
}

enum LeuknodeVersion {
    static let current = "0.1.0"
}
