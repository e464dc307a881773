internal import COpenBLAS
import Foundation

/// Which OpenBLAS compute kernel this process runs, and a way out when OpenBLAS picked a slow one.
///
/// OpenBLAS 0.3.21 (Debian 12) chooses its kernel once, when the library loads, from the CPU model.
/// It does not know newer CPUs (for example a Xeon that reports only "Intel(R) Xeon(R) Processor"):
/// it then falls back to the SSE3 "Prescott" kernel, which runs sgemm 2-3x slower than its AVX-512
/// kernel on the same machine. The choice can only be changed with the `OPENBLAS_CORETYPE`
/// environment variable before the library loads, so the CLI relaunches itself once with the
/// variable set when the CPU's flags show a better kernel is safe to use.
public enum BLASKernel {
    /// OpenBLAS's name for the kernel in use, e.g. "SkylakeX", "Haswell", "Prescott".
    public static var name: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Generic fallback kernels that OpenBLAS uses for CPUs it does not recognise.
    static let fallbackKernels: Set<String> = ["prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "unknown"]

    /// The `OPENBLAS_CORETYPE` worth relaunching with, or nil when the current kernel is already the
    /// right one, the variable was set by the user, or the CPU flags cannot be read.
    public static func betterCoreType(cpuFlags: Set<String>? = readCPUFlags(), current: String = name,
                                      environment: [String: String]? = nil) -> String? {
        let environment = environment ?? ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil, environment["LEUKNODE_KEEP_BLAS_KERNEL"] == nil else { return nil }
        guard fallbackKernels.contains(current.lowercased()), let flags = cpuFlags else { return nil }
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }

    /// Re-executes this program with `OPENBLAS_CORETYPE` set when `betterCoreType()` names a kernel.
    /// Returns normally when no relaunch is needed or the exec fails (the program then runs on the
    /// kernel it has). Set `LEUKNODE_KEEP_BLAS_KERNEL=1` to never relaunch.
    public static func relaunchWithBetterKernelIfNeeded() {
        guard let core = betterCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")   // exec failed: carry on as we are
    }

    /// The `flags` line of /proc/cpuinfo, or nil where there is none (not Linux, or a sandbox).
    public static func readCPUFlags() -> Set<String>? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return nil
    }
}
