import Testing
import Foundation

@Suite struct InitAndId {
    @Test func initThenIdThenRefuseSecondInit() throws {
        let dir = CLI.temporaryDirectory("init") + "/node"
        let first = try CLI.run(["init", "--data-dir", dir, "--name", "St Mary", "--listen", "127.0.0.1:7411"])
        #expect(first.status == 0, "\(first.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/node.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let id = try CLI.run(["id", "--data-dir", dir])
        #expect(id.status == 0)
        let lines = id.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("leuk1:") && lines[0].hasSuffix("@127.0.0.1:7411"))
        #expect(lines[1].split(separator: "-").count == 4)
        #expect(first.stdout.contains(String(lines[0])))

        let second = try CLI.run(["init", "--data-dir", dir])
        #expect(second.status != 0)
        #expect(second.stderr.contains("already holds a leuknode"))
        // The identity did not change.
        #expect(try CLI.run(["id", "--data-dir", dir]).stdout == id.stdout)
    }

    @Test func defaultDirectoryComesFromLEUKNODE_HOME() throws {
        let dir = CLI.temporaryDirectory("home") + "/n"
        #expect(try CLI.run(["init"], environment: ["LEUKNODE_HOME": dir]).status == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/node.key"))
        #expect(try CLI.run(["id"], environment: ["LEUKNODE_HOME": dir]).status == 0)
    }

    @Test func passphraseProtectedInitAndHelpfulErrors() throws {
        let dir = CLI.temporaryDirectory("pass") + "/n"
        #expect(try CLI.run(["init", "--data-dir", dir, "--passphrase-stdin"], stdin: "correct horse\n").status == 0)
        let raw = try Data(contentsOf: URL(fileURLWithPath: dir + "/node.key"))
        #expect(raw[9] == 1, "key file should be marked passphrase-protected")

        let empty = try CLI.run(["init", "--data-dir", dir + "2", "--passphrase-stdin"], stdin: "")
        #expect(empty.status != 0)
        #expect(empty.stderr.contains("standard input"))

        let badListen = try CLI.run(["init", "--data-dir", dir + "3", "--listen", "localhost"])
        #expect(badListen.status != 0)
        #expect(badListen.stderr.contains("host:port"))

        let missing = try CLI.run(["id", "--data-dir", dir + "-missing"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("leuknode init"))
    }

    @Test func versionAndHelp() throws {
        #expect(try CLI.run(["--version"]).stdout.contains("."))
        let help = try CLI.run(["--help"])
        #expect(help.stdout.contains("init") && help.stdout.contains("id"))
    }
}
