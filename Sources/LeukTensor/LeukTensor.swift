// LeukTensor: Float32 tensors and the OpenBLAS-backed kernels (GEMM, im2col, pooling) the CNN runs on.
