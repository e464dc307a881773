// AVX2 + FMA kernels of LeukTensor; see include/CLeukKernels.h. The same functions as the AVX-512 set in
// Kernels.c, for the many hospital servers (older Xeons, AMD EPYC before Zen 4) that have AVX2 and FMA
// but not AVX-512. Each function carries its own target attribute, so the file is compiled for generic
// x86-64 like the rest of the package and the vector code only ever runs after leuk_kernels_have_avx2()
// returned 1.
//
// AVX2 has 16 vector registers of 8 floats where AVX-512 has 32 of 16, so the register tiles are smaller:
// a 2x2 pixel window (one pooled output) times 16 output channels in 8 accumulators, with the weights read
// from L1 instead of held in registers. Every output still sums its products in the same order as the
// AVX-512 kernel ((ky, kx, ci) for a convolution, pixel after pixel for a weight gradient), and pooling,
// argmax codes and bias gradients follow the same definition, so the two sets agree to the last bit
// wherever both use FMA in that order.
#include "CLeukKernels.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

int leuk_kernels_have_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx || !fma) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    // The OS must save the XMM and YMM state.
    if ((lo & 0x6) != 0x6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 5) & 1;
}

/// Eight argmax codes (0-3 or 255, one per 32-bit lane) as eight bytes.
AVX2 static inline void store_codes(__m256i codes, uint8_t *dst) {
    const __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(codes), _mm256_extracti128_si256(codes, 1));
    _mm_storel_epi64((__m128i *)dst, _mm_packus_epi16(words, words));
}

/// Eight argmax bytes, one per 32-bit lane.
AVX2 static inline __m256i load_codes(const uint8_t *src) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)src));
}

/// Lanes whose code equals `k`, as a float mask.
AVX2 static inline __m256 code_is(__m256i codes, int k) {
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(codes, _mm256_set1_epi32(k)));
}

/// The pooled value and argmax code of four candidate vectors (window positions 0-3), with bias and ReLU,
/// eight channels: the AVX-512 `pool_store` with blends for masks.
AVX2 static inline void pool_store8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 bias, int has_bias, int relu,
                                    float *out, uint8_t *arg) {
    __m256 best = a0;
    __m256i index = _mm256_setzero_si256();
    __m256 m = _mm256_cmp_ps(a1, best, _CMP_GT_OQ);
    best = _mm256_blendv_ps(best, a1, m);
    index = _mm256_blendv_epi8(index, _mm256_set1_epi32(1), _mm256_castps_si256(m));
    m = _mm256_cmp_ps(a2, best, _CMP_GT_OQ);
    best = _mm256_blendv_ps(best, a2, m);
    index = _mm256_blendv_epi8(index, _mm256_set1_epi32(2), _mm256_castps_si256(m));
    m = _mm256_cmp_ps(a3, best, _CMP_GT_OQ);
    best = _mm256_blendv_ps(best, a3, m);
    index = _mm256_blendv_epi8(index, _mm256_set1_epi32(3), _mm256_castps_si256(m));
    if (has_bias) best = _mm256_add_ps(best, bias);
    if (relu) {
        const __m256 positive = _mm256_cmp_ps(best, _mm256_setzero_ps(), _CMP_GT_OQ);
        best = _mm256_and_ps(best, positive);
        index = _mm256_blendv_epi8(_mm256_set1_epi32(255), index, _mm256_castps_si256(positive));
    }
    _mm256_storeu_ps(out, best);
    store_codes(index, arg);
}

/// Both halves of 16 channels of one pooled output from a 2x2 tile's accumulators acc[p * 2 + v] (window
/// position p, channels 8v..8v+7), with bias and ReLU.
AVX2 static inline void pool_tile16(const __m256 acc[8], const float *bias, float *out, uint8_t *arg) {
    pool_store8(acc[0], acc[2], acc[4], acc[6], _mm256_loadu_ps(bias), 1, 1, out, arg);
    pool_store8(acc[1], acc[3], acc[5], acc[7], _mm256_loadu_ps(bias + 8), 1, 1, out + 8, arg + 8);
}

// MARK: conv1 of LeukNet-S: 3 -> 16 channels, 3x3, fused bias + ReLU + 2x2 max-pool

/// One pooled output of conv1 (a 2x2 pixel window, 16 channels in 8 accumulators: eight independent FMA
/// chains, enough to cover the FMA latency on two units). Each pixel sums its 27 products in (ky, kx, ci)
/// order. The 27 x 16 weights are read from L1: they no longer fit the 16 registers.
AVX2 void leuk_conv1_relu_pool_forward_avx2(const float *padded, long images, long height, long width,
                                           const float *weight, const float *bias, float *output, uint8_t *argmax) {
    const long row_floats = (width + 2) * 3;
    const long pooled_h = height / 2, pooled_w = width / 2;
    for (long n = 0; n < images; n++) {
        const float *image = padded + n * (height + 2) * row_floats;
        for (long py = 0; py < pooled_h; py++) {
            const float *top = image + (2 * py) * row_floats;
            for (long px = 0; px < pooled_w; px++) {
                const float *p0 = top + (2 * px) * 3;
                __m256 s[8];
                for (int i = 0; i < 8; i++) s[i] = _mm256_setzero_ps();
                for (int ky = 0; ky < 3; ky++) {
                    for (int j = 0; j < 9; j++) {
                        const __m256 w0 = _mm256_loadu_ps(weight + 16 * (ky * 9 + j));
                        const __m256 w1 = _mm256_loadu_ps(weight + 16 * (ky * 9 + j) + 8);
                        for (int k = 0; k < 4; k++) {
                            const __m256 x = _mm256_broadcast_ss(p0 + ((k >> 1) + ky) * row_floats + (k & 1) * 3 + j);
                            s[2 * k] = _mm256_fmadd_ps(x, w0, s[2 * k]);
                            s[2 * k + 1] = _mm256_fmadd_ps(x, w1, s[2 * k + 1]);
                        }
                    }
                }
                const long o = ((n * pooled_h + py) * pooled_w + px) * 16;
                pool_tile16(s, bias, output + o, argmax + o);
            }
        }
    }
}

/// The 27 x 16 gradient accumulators do not fit 16 registers, so each image is swept six times: per kernel
/// row ky and per half of the channels, 9 accumulators (kx, ci). Every accumulator still sums over the
/// pooled outputs in order and the window positions 0-3 within each, as the AVX-512 kernel does, and is
/// added to `weight_gradient` once per image.
AVX2 void leuk_conv1_relu_pool_weight_gradient_avx2(const float *padded, long images, long height, long width,
                                                   const float *pooled_gradient, const uint8_t *argmax,
                                                   float *weight_gradient, float *bias_gradient) {
    const long row_floats = (width + 2) * 3;
    const long pooled_h = height / 2, pooled_w = width / 2;
    for (long n = 0; n < images; n++) {
        const float *image = padded + n * (height + 2) * row_floats;
        for (int half = 0; half < 2; half++) {
            for (int ky = 0; ky < 3; ky++) {
                __m256 acc[9];
                for (int j = 0; j < 9; j++) acc[j] = _mm256_setzero_ps();
                __m256 bias_acc = _mm256_setzero_ps();
                for (long py = 0; py < pooled_h; py++) {
                    const float *top = image + (2 * py) * row_floats;
                    for (long px = 0; px < pooled_w; px++) {
                        const long o = ((n * pooled_h + py) * pooled_w + px) * 16 + 8 * half;
                        const __m256 g = _mm256_loadu_ps(pooled_gradient + o);
                        const __m256i a = load_codes(argmax + o);
                        if (ky == 0) bias_acc = _mm256_add_ps(bias_acc, _mm256_andnot_ps(code_is(a, 255), g));
                        const float *p0 = top + (2 * px) * 3;
                        for (int k = 0; k < 4; k++) {
                            const __m256 m = code_is(a, k);
                            if (!_mm256_movemask_ps(m)) continue;
                            const __m256 gk = _mm256_and_ps(m, g);
                            const float *r = p0 + ((k >> 1) + ky) * row_floats + (k & 1) * 3;
                            for (int j = 0; j < 9; j++)
                                acc[j] = _mm256_fmadd_ps(_mm256_broadcast_ss(r + j), gk, acc[j]);
                        }
                    }
                }
                for (int j = 0; j < 9; j++) {
                    float *w = weight_gradient + 16 * (ky * 9 + j) + 8 * half;
                    _mm256_storeu_ps(w, _mm256_add_ps(_mm256_loadu_ps(w), acc[j]));
                }
                if (ky == 0) {
                    float *b = bias_gradient + 8 * half;
                    _mm256_storeu_ps(b, _mm256_add_ps(_mm256_loadu_ps(b), bias_acc));
                }
            }
        }
    }
}

// MARK: 3x3 convolutions, direct, on a 1-pixel zero-padded NHWC input

/// A tile of 2 x 2 output pixels (rows y0, y0 + 1; columns x0, x0 + 1) times 16 output channels in 8
/// accumulators, acc[p * 2 + v] for pixel p = 2 r + j and channels 8v..8v+7, each a sum over
/// t = (ky, kx, ci) in that order, as the im2col GEMM defines it. Per t: two weight vectors and four
/// broadcast inputs feed 8 FMAs. `window` is the padded input at (y0, x0); `weight` the first of this
/// tile's output columns in the 9C x out_channels matrix.
AVX2 __attribute__((always_inline)) static inline void conv3x3_tile_avx2(
    const float *window, long row_floats, long c, const float *weight, long out_channels, __m256 acc[8]) {
    for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
    for (int ky = 0; ky < 3; ky++) {
        for (int kx = 0; kx < 3; kx++) {
            const float *wk = weight + (ky * 3 + kx) * c * out_channels;
            const float *xk = window + ky * row_floats + kx * c;
            for (long ci = 0; ci < c; ci++) {
                const __m256 w0 = _mm256_loadu_ps(wk + ci * out_channels);
                const __m256 w1 = _mm256_loadu_ps(wk + ci * out_channels + 8);
                for (int p = 0; p < 4; p++) {
                    const __m256 x = _mm256_broadcast_ss(xk + (p >> 1) * row_floats + (p & 1) * c + ci);
                    acc[2 * p] = _mm256_fmadd_ps(x, w0, acc[2 * p]);
                    acc[2 * p + 1] = _mm256_fmadd_ps(x, w1, acc[2 * p + 1]);
                }
            }
        }
    }
}

/// Fused bias + ReLU + 2x2 max-pool: each 2x2 tile is exactly one pooled output, pooled in registers.
/// Handles every shape `leuk_conv3x3_relu_pool_supported` accepts (it needs only 16k output channels and
/// even sizes). Output channels in groups of 16, outermost, so one group's weights stay in L1.
AVX2 void leuk_conv3x3_relu_pool_forward_avx2(const float *padded, long images, long height, long width,
                                             long in_channels, long out_channels, const float *weight,
                                             const float *bias, float *output, uint8_t *argmax) {
    const long c = in_channels, co = out_channels;
    const long row_floats = (width + 2) * c;
    const long pooled_h = height / 2, pooled_w = width / 2;
    for (long n = 0; n < images; n++) {
        const float *image = padded + n * (height + 2) * row_floats;
        for (long group = 0; group < co; group += 16) {
            for (long py = 0; py < pooled_h; py++) {
                for (long px = 0; px < pooled_w; px++) {
                    __m256 acc[8];
                    conv3x3_tile_avx2(image + (2 * py) * row_floats + (2 * px) * c, row_floats, c, weight + group, co, acc);
                    const long o = ((n * pooled_h + py) * pooled_w + px) * co + group;
                    pool_tile16(acc, bias + group, output + o, argmax + o);
                }
            }
        }
    }
}

/// Plain direct 3x3 convolution (the input gradient of conv2/conv3), in the same 2 x 2 x 16 tiles.
/// Handles every shape `leuk_conv3x3_supported` accepts.
AVX2 void leuk_conv3x3_forward_avx2(const float *padded, long images, long height, long width,
                                   long in_channels, long out_channels, const float *weight, float *output) {
    const long c = in_channels, co = out_channels;
    const long row_floats = (width + 2) * c;
    for (long n = 0; n < images; n++) {
        const float *image = padded + n * (height + 2) * row_floats;
        float *out = output + n * height * width * co;
        for (long group = 0; group < co; group += 16) {
            for (long y0 = 0; y0 < height; y0 += 2) {
                for (long x0 = 0; x0 < width; x0 += 2) {
                    __m256 acc[8];
                    conv3x3_tile_avx2(image + y0 * row_floats + x0 * c, row_floats, c, weight + group, co, acc);
                    for (int p = 0; p < 4; p++) {
                        float *o = out + ((y0 + (p >> 1)) * width + x0 + (p & 1)) * co + group;
                        _mm256_storeu_ps(o, acc[2 * p]);
                        _mm256_storeu_ps(o + 8, acc[2 * p + 1]);
                    }
                }
            }
        }
    }
}

// MARK: weight gradient of a 3x3 convolution from padded input and padded output gradient

/// For each tap (ky, kx), 4 input channels and 16 output channels at a time: 8 accumulators summed over
/// the image's pixels in row-major order (per pixel two gradient vectors and four broadcast inputs feed
/// 8 FMAs), then added to the weight gradient. Handles every shape
/// `leuk_conv3x3_weight_gradient_supported` accepts.
AVX2 void leuk_conv3x3_weight_gradient_avx2(const float *padded_input, const float *padded_gradient, long images,
                                           long height, long width, long in_channels, long out_channels,
                                           float *weight_gradient) {
    const long c = in_channels, co = out_channels, row = width + 2;
    for (long n = 0; n < images; n++) {
        const float *x_image = padded_input + n * (height + 2) * row * c;
        const float *g_image = padded_gradient + n * (height + 2) * row * co + (row + 1) * co;
        for (int tap = 0; tap < 9; tap++) {
            const float *x_tap = x_image + ((tap / 3) * row + tap % 3) * c;
            for (long ci0 = 0; ci0 < c; ci0 += 4) {
                for (long co0 = 0; co0 < co; co0 += 16) {
                    __m256 acc[8];
                    for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
                    for (long y = 0; y < height; y++) {
                        const float *g_row = g_image + y * row * co + co0;
                        const float *x_row = x_tap + y * row * c + ci0;
                        for (long x = 0; x < width; x++) {
                            const __m256 g0 = _mm256_loadu_ps(g_row + x * co);
                            const __m256 g1 = _mm256_loadu_ps(g_row + x * co + 8);
                            const float *xp = x_row + x * c;
                            for (int i = 0; i < 4; i++) {
                                const __m256 xv = _mm256_broadcast_ss(xp + i);
                                acc[2 * i] = _mm256_fmadd_ps(xv, g0, acc[2 * i]);
                                acc[2 * i + 1] = _mm256_fmadd_ps(xv, g1, acc[2 * i + 1]);
                            }
                        }
                    }
                    for (int i = 0; i < 4; i++) {
                        float *w = weight_gradient + (tap * c + ci0 + i) * co + co0;
                        _mm256_storeu_ps(w, _mm256_add_ps(_mm256_loadu_ps(w), acc[2 * i]));
                        _mm256_storeu_ps(w + 8, _mm256_add_ps(_mm256_loadu_ps(w + 8), acc[2 * i + 1]));
                    }
                }
            }
        }
    }
}

// MARK: im2col, col2im and 2x2 max-pool, channels % 16 == 0, 8 at a time (the loops are in VectorLoops.h)

AVX2 static inline void copy8s(const float *src, float *dst, long count) {
    for (long i = 0; i < count; i += 8) _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i));
}

AVX2 static inline void zero8s(float *dst, long count) {
    for (long i = 0; i < count; i += 8) _mm256_storeu_ps(dst + i, _mm256_setzero_ps());
}

AVX2 static inline void add8s(const float *src, float *dst, long count) {
    for (long i = 0; i < count; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), _mm256_loadu_ps(src + i)));
}

/// Eight channels of one pooling window, with the bias (when not NULL) and ReLU.
AVX2 static inline void pool8(const float *p0, const float *p1, const float *p2, const float *p3, const float *bias,
                              int relu, float *out, uint8_t *arg) {
    const __m256 b = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    pool_store8(_mm256_loadu_ps(p0), _mm256_loadu_ps(p1), _mm256_loadu_ps(p2), _mm256_loadu_ps(p3), b, bias != 0, relu,
                out, arg);
}

/// Eight channels of one window's backward pass: the gradient to the winner, zero elsewhere, and to the
/// bias gradient unless the ReLU clipped it.
AVX2 static inline void route8(const float *grad, const uint8_t *arg, float *p0, float *p1, float *p2, float *p3,
                               float *bias_gradient) {
    const __m256 g = _mm256_loadu_ps(grad);
    const __m256i a = load_codes(arg);
    _mm256_storeu_ps(p0, _mm256_and_ps(code_is(a, 0), g));
    _mm256_storeu_ps(p1, _mm256_and_ps(code_is(a, 1), g));
    _mm256_storeu_ps(p2, _mm256_and_ps(code_is(a, 2), g));
    _mm256_storeu_ps(p3, _mm256_and_ps(code_is(a, 3), g));
    if (bias_gradient)
        _mm256_storeu_ps(bias_gradient, _mm256_add_ps(_mm256_loadu_ps(bias_gradient), _mm256_andnot_ps(code_is(a, 255), g)));
}

#define LEUK_VECTOR_ATTRIBUTE AVX2
#define LEUK_VECTOR_SUFFIX avx2
#define LEUK_LANES 8
#define LEUK_COPY copy8s
#define LEUK_ZERO zero8s
#define LEUK_ADD add8s
#define LEUK_POOL pool8
#define LEUK_ROUTE route8
#define LEUK_VEC __m256
#define LEUK_VLOAD _mm256_loadu_ps
#define LEUK_VSTORE _mm256_storeu_ps
#define LEUK_VADD _mm256_add_ps
#define LEUK_VSUB _mm256_sub_ps
#define LEUK_VFMA _mm256_fmadd_ps
#define LEUK_VBCAST _mm256_broadcast_ss
#define LEUK_VZERO _mm256_setzero_ps
#define LEUK_TILE_BLOCK 4
#include "WinogradLoops.h"
#include "VectorLoops.h"

#else  // not x86-64: no vector kernels; LeukTensor never calls the functions below (the detection says 0).

int leuk_kernels_have_avx2(void) { return 0; }
void leuk_conv1_relu_pool_forward_avx2(const float *p, long i, long h, long w, const float *wt, const float *b, float *o, uint8_t *a) {
    (void)p; (void)i; (void)h; (void)w; (void)wt; (void)b; (void)o; (void)a;
}
void leuk_conv1_relu_pool_weight_gradient_avx2(const float *p, long i, long h, long w, const float *g, const uint8_t *a, float *wg, float *bg) {
    (void)p; (void)i; (void)h; (void)w; (void)g; (void)a; (void)wg; (void)bg;
}
void leuk_conv3x3_relu_pool_forward_avx2(const float *p, long i, long h, long w, long ci, long co, const float *wt,
                                        const float *b, float *o, uint8_t *a) {
    (void)p; (void)i; (void)h; (void)w; (void)ci; (void)co; (void)wt; (void)b; (void)o; (void)a;
}
void leuk_conv3x3_forward_avx2(const float *p, long i, long h, long w, long ci, long co, const float *wt, float *o) {
    (void)p; (void)i; (void)h; (void)w; (void)ci; (void)co; (void)wt; (void)o;
}
void leuk_conv3x3_weight_gradient_avx2(const float *x, const float *g, long i, long h, long w, long c, long co, float *dw) {
    (void)x; (void)g; (void)i; (void)h; (void)w; (void)c; (void)co; (void)dw;
}
void leuk_gather3x3_avx2(const float *in, long i, long h, long w, long c, float *col) { (void)in; (void)i; (void)h; (void)w; (void)c; (void)col; }
void leuk_scatter_add3x3_avx2(const float *col, long i, long h, long w, long c, float *in) { (void)col; (void)i; (void)h; (void)w; (void)c; (void)in; }
void leuk_max_pool_forward_avx2(const float *in, long i, long h, long w, long c, const float *b, int r, float *o, uint8_t *a) {
    (void)in; (void)i; (void)h; (void)w; (void)c; (void)b; (void)r; (void)o; (void)a;
}
void leuk_max_pool_backward_avx2(const float *g, const uint8_t *a, long i, long h, long w, long c, long p, float *d, float *b) {
    (void)g; (void)a; (void)i; (void)h; (void)w; (void)c; (void)p; (void)d; (void)b;
}
void leuk_winograd_relu_pool_forward_avx2(const float *p, long i, long h, long w, long ci, long co, const float *u,
                                          const float *b, float *s, float *o, uint8_t *a) {
    (void)p; (void)i; (void)h; (void)w; (void)ci; (void)co; (void)u; (void)b; (void)s; (void)o; (void)a;
}
#endif
