#if LEUKFUZZ_LIBFUZZER
import CLibFuzzer
#endif
import Foundation
import LeukFuzz

/// `leukfuzz`: the fuzz targets of LeukFuzz behind one binary.
///
///     leukfuzz list                          the targets, one a line: name, then what it feeds
///     leukfuzz seeds DIR [--committed]       writes each target's seed corpus to DIR/<target>/seeds; with
///                                            --committed only the targets whose seeds the repository keeps
///                                            (`leukfuzz seeds Tests/FuzzCorpus --committed`; no image seeds)
///     leukfuzz replay TARGET FILE|DIR...     runs files through a target and prints each outcome
///     leukfuzz run TARGET [libFuzzer args]   fuzzes TARGET (only in the sanitized build, `make fuzz`)
///
/// `run` hands the remaining arguments to libFuzzer's `LLVMFuzzerRunDriver`; the sanitized build links
/// compiler-rt's `libclang_rt.fuzzer_no_main`, so this `main` stays the program's entry point and one binary
/// serves every target. A normal build has no libFuzzer and `run` says so.
@main
struct LeukFuzzCommand {
    static func main() async {
        var arguments = CommandLine.arguments
        let program = arguments.removeFirst()
        guard let command = arguments.first else { usage() }
        arguments.removeFirst()
        switch command {
        case "list":
            for target in FuzzTargets.all { print("\(target.name)\t\(target.summary)") }
        case "seeds":
            guard arguments.count == 1 || (arguments.count == 2 && arguments[1] == "--committed") else { usage() }
            await writeSeeds(to: arguments[0], committedOnly: arguments.count == 2)
        case "replay":
            guard let name = arguments.first, arguments.count >= 2 else { usage() }
            await replay(target(name), paths: Array(arguments.dropFirst()))
        case "run":
            guard let name = arguments.first else { usage() }
            run(target(name), program: program, arguments: Array(arguments.dropFirst()))
        default:
            usage()
        }
    }

    static func usage() -> Never {
        FileHandle.standardError.write(Data("""
            usage: leukfuzz list | seeds DIR [--committed] | replay TARGET FILE|DIR... | run TARGET [libFuzzer arguments]
            targets: \(FuzzTargets.all.map { $0.name }.joined(separator: ", "))

            """.utf8))
        exit(2)
    }

    static func target(_ name: String) -> FuzzTarget {
        guard let target = FuzzTargets.named(name) else {
            FileHandle.standardError.write(Data("leukfuzz: no target '\(name)'\n".utf8))
            usage()
        }
        return target
    }

    static func writeSeeds(to folder: String, committedOnly: Bool) async {
        for target in FuzzTargets.all where target.seedsCommitted || !committedOnly {
            let directory = folder + "/" + target.name + "/seeds"
            try? FileManager.default.removeItem(atPath: directory)
            try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let seeds = await target.seeds()
            for seed in seeds {
                guard FileManager.default.createFile(atPath: directory + "/" + seed.name, contents: Data(seed.bytes)) else {
                    FileHandle.standardError.write(Data("leukfuzz: cannot write \(directory)/\(seed.name)\n".utf8))
                    exit(1)
                }
            }
            print("\(target.name): \(seeds.count) seeds, \(seeds.reduce(0) { $0 + $1.bytes.count }) bytes")
        }
    }

    static func replay(_ target: FuzzTarget, paths: [String]) async {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("leukfuzz: no such file or folder '\(path)'\n".utf8))
                exit(1)
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.filter { !$0.hasPrefix(".") }.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        for file in files {
            let bytes = [UInt8](FileManager.default.contents(atPath: file) ?? Data())
            print("\(file): \(await target.run(bytes))")
        }
    }

    static func run(_ target: FuzzTarget, program: String, arguments: [String]) -> Never {
        #if LEUKFUZZ_LIBFUZZER
        Selected.target = target
        var argv: [UnsafeMutablePointer<CChar>?] = ([program] + arguments).map { strdup($0) } + [nil]
        var argc = Int32(arguments.count + 1)
        let status = argv.withUnsafeMutableBufferPointer { buffer in
            var pointer = buffer.baseAddress
            return LLVMFuzzerRunDriver(&argc, &pointer) { data, size in
                let bytes = size == 0 ? [] : [UInt8](UnsafeBufferPointer(start: data, count: size))
                _ = Selected.target?.runBlocking(bytes)
                return 0
            }
        }
        exit(status)
        #else
        FileHandle.standardError.write(Data("""
            leukfuzz: this build has no libFuzzer; `make fuzz` builds the sanitized one (.build/fuzz/debug/leukfuzz).
            `leukfuzz replay \(target.name) FILE...` runs inputs through the target without it.

            """.utf8))
        exit(2)
        #endif
    }
}

#if LEUKFUZZ_LIBFUZZER
/// The target libFuzzer's callback runs: set once before the driver starts, read from its one thread.
enum Selected {
    nonisolated(unsafe) static var target: FuzzTarget?
}
#endif
