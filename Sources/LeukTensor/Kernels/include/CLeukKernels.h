// Hand-vectorised CNN kernels for LeukTensor. Swift compiles the engine for generic x86-64 (SSE2), which
// leaves the vector units of the machines it trains on idle outside OpenBLAS; these kernels carry
// per-function target attributes and are only called after the CPU check of their set said yes, so the
// binary still runs on any x86-64 CPU. Two sets with the same functions and the same definitions: `_avx512`
// (Kernels.c, after `leuk_kernels_have_avx512()`) and `_avx2` (KernelsAVX2.c, AVX2 + FMA, after
// `leuk_kernels_have_avx2()`). Elsewhere LeukTensor uses its portable Swift paths. The `_supported`
// predicates hold for both sets (the AVX2 kernels accept a superset of those shapes).
#ifndef CLEUK_KERNELS_H
#define CLEUK_KERNELS_H

#include <stdint.h>

/// 1 when the CPU and OS support AVX-512 F/BW/VL/DQ and FMA (the kernels below may run), else 0.
int leuk_kernels_have_avx512(void);

/// 1 when the CPU and OS support AVX2 and FMA (the `_avx2` kernels may run), else 0.
int leuk_kernels_have_avx2(void);

/// Copies NHWC images into a zero border of `pad` pixels: out is images x (h+2pad) x (w+2pad) x c.
void leuk_pad_nhwc(const float *input, long images, long height, long width, long channels, long pad, float *output);

/// The same zero-bordered NHWC layout straight from NCHW images (the network's input): the channels-last
/// transposition and the border in one pass.
void leuk_pad_nchw_to_nhwc(const float *input, long images, long height, long width, long channels, long pad,
                           float *output);

/// Direct 3x3 convolution (3 input channels, 16 output channels, stride 1, on a 1-pixel zero-padded NHWC
/// input) fused with bias, ReLU and 2x2 max-pooling, exactly as LeukTensor's `Pooling.maxPool2x2Forward`
/// with a bias defines it: out = max(0, max(window) + bias), argmax byte 0-3 or 255 when ReLU clipped.
/// `weight` is the (ky, kx, ci) x co matrix, 27 x 16 row-major. height and width are the unpadded sizes
/// (both even).
void leuk_conv1_relu_pool_forward_avx512(const float *padded, long images, long height, long width,
                                         const float *weight, const float *bias, float *output, uint8_t *argmax);
void leuk_conv1_relu_pool_forward_avx2(const float *padded, long images, long height, long width,
                                       const float *weight, const float *bias, float *output, uint8_t *argmax);

/// The weight and bias gradients of that block, from the pooled gradient and the argmax bytes, added to
/// `weight_gradient` (27 x 16) and `bias_gradient` (16). Sums per image, then across images.
void leuk_conv1_relu_pool_weight_gradient_avx512(const float *padded, long images, long height, long width,
                                                 const float *pooled_gradient, const uint8_t *argmax,
                                                 float *weight_gradient, float *bias_gradient);
void leuk_conv1_relu_pool_weight_gradient_avx2(const float *padded, long images, long height, long width,
                                               const float *pooled_gradient, const uint8_t *argmax,
                                               float *weight_gradient, float *bias_gradient);

/// Whether `leuk_conv3x3_relu_pool_forward_avx512` handles this shape (out_channels % 32 == 0, height even,
/// width % 4 == 0).
int leuk_conv3x3_relu_pool_supported(long in_channels, long out_channels, long height, long width);

/// Direct 3x3 convolution (stride 1, on a 1-pixel zero-padded NHWC input, no im2col) fused with bias,
/// ReLU and 2x2 max-pooling, as `Pooling.maxPool2x2Forward` with a bias defines it. `weight` is the
/// (ky, kx, ci) x co matrix; each output sums its 9 * in_channels products in that order.
void leuk_conv3x3_relu_pool_forward_avx512(const float *padded, long images, long height, long width,
                                           long in_channels, long out_channels, const float *weight,
                                           const float *bias, float *output, uint8_t *argmax);
void leuk_conv3x3_relu_pool_forward_avx2(const float *padded, long images, long height, long width,
                                         long in_channels, long out_channels, const float *weight,
                                         const float *bias, float *output, uint8_t *argmax);

/// Whether `leuk_conv3x3_weight_gradient_avx512` handles these channels (in % 8 == 0, out % 32 == 0).
int leuk_conv3x3_weight_gradient_supported(long in_channels, long out_channels);

/// Adds the weight gradient ((ky, kx, ci) x co) of a 3x3 "same" convolution: from the 1-pixel zero-padded
/// NHWC input and the 1-pixel padded output gradient (its border is not read).
void leuk_conv3x3_weight_gradient_avx512(const float *padded_input, const float *padded_gradient, long images,
                                         long height, long width, long in_channels, long out_channels,
                                         float *weight_gradient);
void leuk_conv3x3_weight_gradient_avx2(const float *padded_input, const float *padded_gradient, long images,
                                       long height, long width, long in_channels, long out_channels,
                                       float *weight_gradient);

/// im2col for a 3x3, stride 1, padding 1 convolution over NHWC images with channels % 16 == 0:
/// rows of 9 * channels floats ordered (ky, kx, ci).
void leuk_gather3x3_avx512(const float *input, long images, long height, long width, long channels, float *columns);
void leuk_gather3x3_avx2(const float *input, long images, long height, long width, long channels, float *columns);

/// Adjoint of `leuk_gather3x3_avx512`: adds each column entry onto its input pixel (channels % 16 == 0).
void leuk_scatter_add3x3_avx512(const float *columns, long images, long height, long width, long channels, float *input);
void leuk_scatter_add3x3_avx2(const float *columns, long images, long height, long width, long channels, float *input);

/// 2x2 max-pool with optional bias and ReLU (`bias` may be NULL), channels % 16 == 0, even sizes; the
/// same definition as `Pooling.maxPool2x2Forward`.
void leuk_max_pool_forward_avx512(const float *input, long images, long height, long width, long channels,
                                  const float *bias, int relu, float *output, uint8_t *argmax);
void leuk_max_pool_forward_avx2(const float *input, long images, long height, long width, long channels,
                                const float *bias, int relu, float *output, uint8_t *argmax);

/// Backward of the pool (channels % 16 == 0, even sizes): writes every input gradient, and when
/// `bias_gradient` is not NULL adds each unclipped pooled gradient to it, pooled value after pooled value.
/// With `pad` > 0 the input gradient is laid out with a border of `pad` pixels per image (height + 2 pad
/// rows of width + 2 pad pixels); the border is not written.
void leuk_max_pool_backward_avx512(const float *pooled_gradient, const uint8_t *argmax, long images, long height,
                                   long width, long channels, long pad, float *input_gradient, float *bias_gradient);
void leuk_max_pool_backward_avx2(const float *pooled_gradient, const uint8_t *argmax, long images, long height,
                                 long width, long channels, long pad, float *input_gradient, float *bias_gradient);

/// Whether `leuk_conv3x3_forward_avx512` handles this shape: even height, and 16 output channels with
/// width % 8 == 0 or a multiple of 32 output channels with width % 4 == 0.
int leuk_conv3x3_supported(long in_channels, long out_channels, long height, long width);

/// Plain direct 3x3 convolution (stride 1, no bias) of a 1-pixel zero-padded NHWC input into an unpadded
/// NHWC output; `weight` is the (ky, kx, ci) x co matrix, each output summing its products in that order.
void leuk_conv3x3_forward_avx512(const float *padded, long images, long height, long width,
                                 long in_channels, long out_channels, const float *weight, float *output);
void leuk_conv3x3_forward_avx2(const float *padded, long images, long height, long width,
                               long in_channels, long out_channels, const float *weight, float *output);

/// Whether the Winograd F(2x2, 3x3) kernels handle this shape: in_channels % 16 == 0, out_channels % 32 == 0,
/// even height, width % 16 == 0 (LeukNet-S's conv2 and conv3 at 64x64).
int leuk_winograd_supported(long in_channels, long out_channels, long height, long width);

/// Floats of scratch space `leuk_winograd_relu_pool_forward_*` needs: 16 x (width / 2) x (in + out channels).
long leuk_winograd_scratch_floats(long in_channels, long out_channels, long width);

/// The transformed weights U = G g G^T of every (input, output) channel pair, from the (ky, kx, ci) x co
/// matrix: 16 x in_channels x out_channels, position-major. Plain C, shared by every set.
void leuk_winograd_transform_weights(const float *weight, long in_channels, long out_channels, float *transformed);

/// Inference forward pass of a 3x3 "same" convolution + bias + ReLU + 2x2 max-pool by Winograd F(2x2, 3x3)
/// on a 1-pixel zero-padded NHWC input: the same outputs and argmax codes as
/// `leuk_conv3x3_relu_pool_forward_*` up to float rounding (16 instead of 36 products per output channel
/// and tile, with additions before and after), from the weights of `leuk_winograd_transform_weights`.
void leuk_winograd_relu_pool_forward_avx512(const float *padded, long images, long height, long width,
                                            long in_channels, long out_channels, const float *transformed_weight,
                                            const float *bias, float *scratch, float *output, uint8_t *argmax);
void leuk_winograd_relu_pool_forward_avx2(const float *padded, long images, long height, long width,
                                          long in_channels, long out_channels, const float *transformed_weight,
                                          const float *bias, float *scratch, float *output, uint8_t *argmax);

#endif
