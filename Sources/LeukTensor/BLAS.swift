internal import COpenBLAS
import Foundation
import Synchronization

/// The one door to OpenBLAS. Sizes are Swift `Int`; the C types stay inside this file.
public enum BLAS {
    /// Sets OpenBLAS's worker-thread count for the whole process.
    ///
    /// OpenBLAS grabs every core by default, which fights the event loops and makes results depend on
    /// the machine; callers set it explicitly from their own thread-count parameter.
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// Serialises engine work that depends on OpenBLAS's process-wide thread count.
    private static let threadCountLock = Mutex(())

    /// Runs `body` with OpenBLAS set to `count` threads, holding a process-wide lock so that another
    /// model (or test) cannot change the thread count in the middle. GEMM partitioning, and therefore the
    /// exact float result, depends on the thread count; this keeps results deterministic for a given
    /// seed and thread count even with several models in one process. Must not be nested.
    public static func withThreadCount<Result>(_ count: Int, _ body: () throws -> Result) rethrows -> Result {
        try threadCountLock.withLock { _ in
            openblas_set_num_threads(Int32(max(1, count)))
            return try body()
        }
    }

    /// The thread count OpenBLAS currently uses.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Row-major `C = alpha * op(A) * op(B) + beta * C`, with `op(A)` of shape m x k and `op(B)` k x n.
    @inline(__always)
    public static func gemm(
        transposeA: Bool, transposeB: Bool,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb),
            beta, c, Int32(ldc))
    }
}
