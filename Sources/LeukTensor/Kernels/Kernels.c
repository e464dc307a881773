// AVX-512 kernels of LeukTensor; see include/CLeukKernels.h (the AVX2 set is KernelsAVX2.c). Every
// AVX-512 function carries its own target attribute, so this file is compiled for generic x86-64 like the
// rest of the package and the vector code only ever runs after leuk_kernels_have_avx512() returned 1. On
// other architectures the kernels are absent and the detection returns 0.
#include "CLeukKernels.h"
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))

int leuk_kernels_have_avx512(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !fma) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    // The OS must save XMM, YMM, the opmask registers and both halves of the ZMM state.
    if ((lo & 0xE6) != 0xE6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    return f && dq && bw && vl;
}

// MARK: conv1 of LeukNet-S: 3 -> 16 channels, 3x3, fused bias + ReLU + 2x2 max-pool

/// The pooled value and argmax code of four candidate vectors (window positions 0-3), with bias and ReLU.
AVX512 static inline void pool_store(__m512 a0, __m512 a1, __m512 a2, __m512 a3, __m512 bias, int has_bias, int relu,
                                     float *out, uint8_t *arg) {
    __m512 best = a0;
    __m512i index = _mm512_setzero_si512();
    __mmask16 m = _mm512_cmp_ps_mask(a1, best, _CMP_GT_OQ);
    best = _mm512_mask_mov_ps(best, m, a1);
    index = _mm512_mask_mov_epi32(index, m, _mm512_set1_epi32(1));
    m = _mm512_cmp_ps_mask(a2, best, _CMP_GT_OQ);
    best = _mm512_mask_mov_ps(best, m, a2);
    index = _mm512_mask_mov_epi32(index, m, _mm512_set1_epi32(2));
    m = _mm512_cmp_ps_mask(a3, best, _CMP_GT_OQ);
    best = _mm512_mask_mov_ps(best, m, a3);
    index = _mm512_mask_mov_epi32(index, m, _mm512_set1_epi32(3));
    if (has_bias) best = _mm512_add_ps(best, bias);
    if (relu) {
        const __mmask16 positive = _mm512_cmp_ps_mask(best, _mm512_setzero_ps(), _CMP_GT_OQ);
        best = _mm512_maskz_mov_ps(positive, best);
        index = _mm512_mask_mov_epi32(_mm512_set1_epi32(255), positive, index);
    }
    _mm512_storeu_ps(out, best);
    _mm_storeu_si128((__m128i *)arg, _mm512_cvtepi32_epi8(index));
}

/// One output pixel of conv1 (16 channels): the 27 products in (ky, kx, ci) order, summed in that order.
AVX512 static inline __m512 conv1_pixel(const float *window, long row_floats, const __m512 *w) {
    __m512 s = _mm512_setzero_ps();
    for (int ky = 0; ky < 3; ky++) {
        const float *r = window + ky * row_floats;
        for (int j = 0; j < 9; j++) s = _mm512_fmadd_ps(_mm512_set1_ps(r[j]), w[ky * 9 + j], s);
    }
    return s;
}

/// Two pooled outputs (eight output pixels) at a time: eight independent FMA chains keep both FMA units
/// busy, where one window's four chains left half the issue slots idle on the FMA latency.
AVX512 void leuk_conv1_relu_pool_forward_avx512(const float *padded, long images, long height, long width,
                                                const float *weight, const float *bias, float *output, uint8_t *argmax) {
    __m512 w[27];
    for (int t = 0; t < 27; t++) w[t] = _mm512_loadu_ps(weight + 16 * t);
    const __m512 b = _mm512_loadu_ps(bias);
    const long row_floats = (width + 2) * 3;
    const long pooled_h = height / 2, pooled_w = width / 2;
    for (long n = 0; n < images; n++) {
        const float *image = padded + n * (height + 2) * row_floats;
        for (long py = 0; py < pooled_h; py++) {
            const float *top = image + (2 * py) * row_floats;
            long px = 0;
            for (; px + 2 <= pooled_w; px += 2) {
                // Pixels: top row x0..x0+3, bottom row x0..x0+3 (x0 = 2 px); window k of pooled output q is
                // pixel (k >> 1, 2q + (k & 1)).
                const float *p0 = top + (2 * px) * 3;
                __m512 s[8];
                for (int i = 0; i < 8; i++) s[i] = _mm512_setzero_ps();
                for (int ky = 0; ky < 3; ky++) {
                    for (int j = 0; j < 9; j++) {
                        const __m512 wt = w[ky * 9 + j];
                        for (int i = 0; i < 8; i++) {
                            const float *r = p0 + ((i >> 2) + ky) * row_floats + (i & 3) * 3;
                            s[i] = _mm512_fmadd_ps(_mm512_set1_ps(r[j]), wt, s[i]);
                        }
                    }
                }
                const long o = ((n * pooled_h + py) * pooled_w + px) * 16;
                pool_store(s[0], s[1], s[4], s[5], b, 1, 1, output + o, argmax + o);
                pool_store(s[2], s[3], s[6], s[7], b, 1, 1, output + o + 16, argmax + o + 16);
            }
            for (; px < pooled_w; px++) {
                const float *p0 = top + (2 * px) * 3;
                const __m512 a0 = conv1_pixel(p0, row_floats, w);
                const __m512 a1 = conv1_pixel(p0 + 3, row_floats, w);
                const __m512 a2 = conv1_pixel(p0 + row_floats, row_floats, w);
                const __m512 a3 = conv1_pixel(p0 + row_floats + 3, row_floats, w);
                const long o = ((n * pooled_h + py) * pooled_w + px) * 16;
                pool_store(a0, a1, a2, a3, b, 1, 1, output + o, argmax + o);
            }
        }
    }
}

AVX512 void leuk_conv1_relu_pool_weight_gradient_avx512(const float *padded, long images, long height, long width,
                                                        const float *pooled_gradient, const uint8_t *argmax,
                                                        float *weight_gradient, float *bias_gradient) {
    const long row_floats = (width + 2) * 3;
    const long pooled_h = height / 2, pooled_w = width / 2;
    const __m512i clipped = _mm512_set1_epi32(255);
    for (long n = 0; n < images; n++) {
        const float *image = padded + n * (height + 2) * row_floats;
        __m512 acc[27];
        for (int t = 0; t < 27; t++) acc[t] = _mm512_setzero_ps();
        __m512 bias_acc = _mm512_setzero_ps();
        for (long py = 0; py < pooled_h; py++) {
            const float *top = image + (2 * py) * row_floats;
            for (long px = 0; px < pooled_w; px++) {
                const long o = ((n * pooled_h + py) * pooled_w + px) * 16;
                const __m512 g = _mm512_loadu_ps(pooled_gradient + o);
                const __m512i a = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(argmax + o)));
                bias_acc = _mm512_add_ps(bias_acc, _mm512_maskz_mov_ps(_mm512_cmpneq_epi32_mask(a, clipped), g));
                const float *p0 = top + (2 * px) * 3;
                for (int k = 0; k < 4; k++) {
                    const __mmask16 m = _mm512_cmpeq_epi32_mask(a, _mm512_set1_epi32(k));
                    if (!m) continue;
                    const __m512 gk = _mm512_maskz_mov_ps(m, g);
                    const float *window = p0 + (k >> 1) * row_floats + (k & 1) * 3;
                    for (int ky = 0; ky < 3; ky++) {
                        const float *r = window + ky * row_floats;
                        for (int j = 0; j < 9; j++)
                            acc[ky * 9 + j] = _mm512_fmadd_ps(_mm512_set1_ps(r[j]), gk, acc[ky * 9 + j]);
                    }
                }
            }
        }
        for (int t = 0; t < 27; t++)
            _mm512_storeu_ps(weight_gradient + 16 * t, _mm512_add_ps(_mm512_loadu_ps(weight_gradient + 16 * t), acc[t]));
        _mm512_storeu_ps(bias_gradient, _mm512_add_ps(_mm512_loadu_ps(bias_gradient), bias_acc));
    }
}

// MARK: 3x3 convolutions with 32k output channels, fused bias + ReLU + 2x2 max-pool, no im2col

int leuk_conv3x3_relu_pool_supported(long in_channels, long out_channels, long height, long width) {
    return in_channels > 0 && out_channels % 32 == 0 && out_channels > 0 && height % 2 == 0 && width % 4 == 0;
}

/// A tile of 2 x `cols` output pixels (rows y0, y0 + 1) times `vectors` x 16 output channels, with
/// cols x vectors = 8: 16 accumulators, each a sum over t = (ky, kx, ci) in that order, as the im2col GEMM
/// defines it. Per t: `vectors` weight vectors and 2 x `cols` broadcast inputs feed 16 FMAs from L1.
/// `window` is the padded input at (y0, x0) (the top-left of the first pixel's window); `weight` the
/// first of this tile's output columns in the 9C x out_channels matrix. Always inlined with constant
/// `cols` and `vectors`, so the accumulators live in registers. acc[(r * cols + j) * vectors + v].
AVX512 __attribute__((always_inline)) static inline void conv3x3_tile(
    const float *window, long row_floats, long c, const float *weight, long out_channels, const int cols,
    const int vectors, __m512 acc[16]) {
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    for (int ky = 0; ky < 3; ky++) {
        for (int kx = 0; kx < 3; kx++) {
            const float *wk = weight + (ky * 3 + kx) * c * out_channels;
            const float *xk = window + ky * row_floats + kx * c;
            for (long ci = 0; ci < c; ci++) {
                __m512 w[2];
                for (int v = 0; v < vectors; v++) w[v] = _mm512_loadu_ps(wk + ci * out_channels + 16 * v);
                for (int r = 0; r < 2; r++) {
                    for (int j = 0; j < cols; j++) {
                        const __m512 x = _mm512_set1_ps(xk[r * row_floats + j * c + ci]);
                        for (int v = 0; v < vectors; v++)
                            acc[(r * cols + j) * vectors + v] = _mm512_fmadd_ps(x, w[v], acc[(r * cols + j) * vectors + v]);
                    }
                }
            }
        }
    }
}

AVX512 void leuk_conv3x3_relu_pool_forward_avx512(const float *padded, long images, long height, long width,
                                                  long in_channels, long out_channels, const float *weight,
                                                  const float *bias, float *output, uint8_t *argmax) {
    const long c = in_channels, co = out_channels;
    const long row_floats = (width + 2) * c;
    const long pooled_h = height / 2, pooled_w = width / 2;
    for (long n = 0; n < images; n++) {
        const float *image = padded + n * (height + 2) * row_floats;
        // Output-channel groups outermost: one group's weights (9C x 32 floats) stay in L1 for the image.
        for (long group = 0; group < co; group += 32) {
            const __m512 b0 = _mm512_loadu_ps(bias + group), b1 = _mm512_loadu_ps(bias + group + 16);
            for (long py = 0; py < pooled_h; py++) {
                for (long x0 = 0; x0 < width; x0 += 4) {
                    __m512 acc[16];
                    conv3x3_tile(image + (2 * py) * row_floats + x0 * c, row_floats, c, weight + group, co, 4, 2, acc);
                    for (int q = 0; q < 2; q++) {
                        const long o = ((n * pooled_h + py) * pooled_w + x0 / 2 + q) * co + group;
                        // Window positions: top-left, top-right, bottom-left, bottom-right.
                        const int p0 = 2 * q, p1 = 2 * q + 1, p2 = 4 + 2 * q, p3 = 4 + 2 * q + 1;
                        pool_store(acc[p0 * 2], acc[p1 * 2], acc[p2 * 2], acc[p3 * 2], b0, 1, 1, output + o, argmax + o);
                        pool_store(acc[p0 * 2 + 1], acc[p1 * 2 + 1], acc[p2 * 2 + 1], acc[p3 * 2 + 1], b1, 1, 1,
                                   output + o + 16, argmax + o + 16);
                    }
                }
            }
        }
    }
}

// MARK: plain 3x3 convolutions (no bias, no pooling): the input gradient of conv2/conv3

int leuk_conv3x3_supported(long in_channels, long out_channels, long height, long width) {
    if (in_channels <= 0 || height % 2 != 0) return 0;
    if (out_channels == 16) return width % 8 == 0;
    return out_channels % 32 == 0 && out_channels > 0 && width % 4 == 0;
}

AVX512 void leuk_conv3x3_forward_avx512(const float *padded, long images, long height, long width,
                                        long in_channels, long out_channels, const float *weight, float *output) {
    const long c = in_channels, co = out_channels;
    const long row_floats = (width + 2) * c;
    for (long n = 0; n < images; n++) {
        const float *image = padded + n * (height + 2) * row_floats;
        float *out = output + n * height * width * co;
        if (co == 16) {
            for (long y0 = 0; y0 < height; y0 += 2) {
                for (long x0 = 0; x0 < width; x0 += 8) {
                    __m512 acc[16];
                    conv3x3_tile(image + y0 * row_floats + x0 * c, row_floats, c, weight, co, 8, 1, acc);
                    for (int r = 0; r < 2; r++)
                        for (int j = 0; j < 8; j++)
                            _mm512_storeu_ps(out + ((y0 + r) * width + x0 + j) * co, acc[r * 8 + j]);
                }
            }
            continue;
        }
        for (long group = 0; group < co; group += 32) {
            for (long y0 = 0; y0 < height; y0 += 2) {
                for (long x0 = 0; x0 < width; x0 += 4) {
                    __m512 acc[16];
                    conv3x3_tile(image + y0 * row_floats + x0 * c, row_floats, c, weight + group, co, 4, 2, acc);
                    for (int r = 0; r < 2; r++) {
                        for (int j = 0; j < 4; j++) {
                            float *o = out + ((y0 + r) * width + x0 + j) * co + group;
                            _mm512_storeu_ps(o, acc[(r * 4 + j) * 2]);
                            _mm512_storeu_ps(o + 16, acc[(r * 4 + j) * 2 + 1]);
                        }
                    }
                }
            }
        }
    }
}

// MARK: weight gradient of a 3x3 convolution from padded input and padded output gradient

int leuk_conv3x3_weight_gradient_supported(long in_channels, long out_channels) {
    return in_channels > 0 && in_channels % 8 == 0 && out_channels > 0 && out_channels % 32 == 0;
}

/// For each tap (ky, kx), 8 input channels and 32 output channels at a time: 16 accumulators summed over
/// the image's pixels in row-major order (per pixel two gradient vectors and eight broadcast inputs feed
/// 16 FMAs), then added to the weight gradient.
AVX512 void leuk_conv3x3_weight_gradient_avx512(const float *padded_input, const float *padded_gradient, long images,
                                                long height, long width, long in_channels, long out_channels,
                                                float *weight_gradient) {
    const long c = in_channels, co = out_channels, row = width + 2;
    for (long n = 0; n < images; n++) {
        const float *x_image = padded_input + n * (height + 2) * row * c;
        const float *g_image = padded_gradient + n * (height + 2) * row * co + (row + 1) * co;
        for (int tap = 0; tap < 9; tap++) {
            const float *x_tap = x_image + ((tap / 3) * row + tap % 3) * c;
            for (long ci0 = 0; ci0 < c; ci0 += 8) {
                for (long co0 = 0; co0 < co; co0 += 32) {
                    __m512 acc[16];
                    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
                    for (long y = 0; y < height; y++) {
                        const float *g_row = g_image + y * row * co + co0;
                        const float *x_row = x_tap + y * row * c + ci0;
                        for (long x = 0; x < width; x++) {
                            const __m512 g0 = _mm512_loadu_ps(g_row + x * co);
                            const __m512 g1 = _mm512_loadu_ps(g_row + x * co + 16);
                            const float *xp = x_row + x * c;
                            for (int i = 0; i < 8; i++) {
                                const __m512 xv = _mm512_set1_ps(xp[i]);
                                acc[2 * i] = _mm512_fmadd_ps(xv, g0, acc[2 * i]);
                                acc[2 * i + 1] = _mm512_fmadd_ps(xv, g1, acc[2 * i + 1]);
                            }
                        }
                    }
                    for (int i = 0; i < 8; i++) {
                        float *w = weight_gradient + (tap * c + ci0 + i) * co + co0;
                        _mm512_storeu_ps(w, _mm512_add_ps(_mm512_loadu_ps(w), acc[2 * i]));
                        _mm512_storeu_ps(w + 16, _mm512_add_ps(_mm512_loadu_ps(w + 16), acc[2 * i + 1]));
                    }
                }
            }
        }
    }
}

// MARK: im2col, col2im and 2x2 max-pool, channels % 16 == 0 (the loops are in VectorLoops.h)

AVX512 static inline void copy16s(const float *src, float *dst, long count) {
    for (long i = 0; i < count; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
}

AVX512 static inline void zero16s(float *dst, long count) {
    for (long i = 0; i < count; i += 16) _mm512_storeu_ps(dst + i, _mm512_setzero_ps());
}

AVX512 static inline void add16s(const float *src, float *dst, long count) {
    for (long i = 0; i < count; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(dst + i), _mm512_loadu_ps(src + i)));
}

/// Sixteen channels of one pooling window, with the bias (when not NULL) and ReLU.
AVX512 static inline void pool16(const float *p0, const float *p1, const float *p2, const float *p3, const float *bias,
                                 int relu, float *out, uint8_t *arg) {
    const __m512 b = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    pool_store(_mm512_loadu_ps(p0), _mm512_loadu_ps(p1), _mm512_loadu_ps(p2), _mm512_loadu_ps(p3), b, bias != 0, relu,
               out, arg);
}

/// Sixteen channels of one window's backward pass: the gradient to the winner, zero elsewhere, and to the
/// bias gradient unless the ReLU clipped it.
AVX512 static inline void route16(const float *grad, const uint8_t *arg, float *p0, float *p1, float *p2, float *p3,
                                  float *bias_gradient) {
    const __m512 g = _mm512_loadu_ps(grad);
    const __m512i a = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)arg));
    _mm512_storeu_ps(p0, _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, _mm512_set1_epi32(0)), g));
    _mm512_storeu_ps(p1, _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, _mm512_set1_epi32(1)), g));
    _mm512_storeu_ps(p2, _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, _mm512_set1_epi32(2)), g));
    _mm512_storeu_ps(p3, _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, _mm512_set1_epi32(3)), g));
    if (bias_gradient) {
        const __m512 passed = _mm512_maskz_mov_ps(_mm512_cmpneq_epi32_mask(a, _mm512_set1_epi32(255)), g);
        _mm512_storeu_ps(bias_gradient, _mm512_add_ps(_mm512_loadu_ps(bias_gradient), passed));
    }
}

#define LEUK_VECTOR_ATTRIBUTE AVX512
#define LEUK_VECTOR_SUFFIX avx512
#define LEUK_LANES 16
#define LEUK_COPY copy16s
#define LEUK_ZERO zero16s
#define LEUK_ADD add16s
#define LEUK_POOL pool16
#define LEUK_ROUTE route16
#define LEUK_VEC __m512
#define LEUK_VLOAD _mm512_loadu_ps
#define LEUK_VSTORE _mm512_storeu_ps
#define LEUK_VADD _mm512_add_ps
#define LEUK_VSUB _mm512_sub_ps
#define LEUK_VFMA _mm512_fmadd_ps
#define LEUK_VBCAST(p) _mm512_set1_ps(*(p))
#define LEUK_VZERO _mm512_setzero_ps
#define LEUK_TILE_BLOCK 8
#include "WinogradLoops.h"
#include "VectorLoops.h"

#else  // not x86-64: no vector kernels; LeukTensor never calls the stubs below.

int leuk_kernels_have_avx512(void) { return 0; }
void leuk_conv1_relu_pool_forward_avx512(const float *p, long i, long h, long w, const float *wt, const float *b, float *o, uint8_t *a) {
    (void)p; (void)i; (void)h; (void)w; (void)wt; (void)b; (void)o; (void)a;
}
void leuk_conv1_relu_pool_weight_gradient_avx512(const float *p, long i, long h, long w, const float *g, const uint8_t *a, float *wg, float *bg) {
    (void)p; (void)i; (void)h; (void)w; (void)g; (void)a; (void)wg; (void)bg;
}
int leuk_conv3x3_relu_pool_supported(long in, long out, long h, long w) { (void)in; (void)out; (void)h; (void)w; return 0; }
void leuk_conv3x3_relu_pool_forward_avx512(const float *p, long i, long h, long w, long ci, long co, const float *wt,
                                           const float *b, float *o, uint8_t *a) {
    (void)p; (void)i; (void)h; (void)w; (void)ci; (void)co; (void)wt; (void)b; (void)o; (void)a;
}
int leuk_conv3x3_supported(long in, long out, long h, long w) { (void)in; (void)out; (void)h; (void)w; return 0; }
void leuk_conv3x3_forward_avx512(const float *p, long i, long h, long w, long ci, long co, const float *wt, float *o) {
    (void)p; (void)i; (void)h; (void)w; (void)ci; (void)co; (void)wt; (void)o;
}
int leuk_conv3x3_weight_gradient_supported(long in, long out) { (void)in; (void)out; return 0; }
void leuk_conv3x3_weight_gradient_avx512(const float *x, const float *g, long i, long h, long w, long c, long co, float *dw) {
    (void)x; (void)g; (void)i; (void)h; (void)w; (void)c; (void)co; (void)dw;
}
void leuk_gather3x3_avx512(const float *in, long i, long h, long w, long c, float *col) { (void)in; (void)i; (void)h; (void)w; (void)c; (void)col; }
void leuk_scatter_add3x3_avx512(const float *col, long i, long h, long w, long c, float *in) { (void)col; (void)i; (void)h; (void)w; (void)c; (void)in; }
void leuk_max_pool_forward_avx512(const float *in, long i, long h, long w, long c, const float *b, int r, float *o, uint8_t *a) {
    (void)in; (void)i; (void)h; (void)w; (void)c; (void)b; (void)r; (void)o; (void)a;
}
void leuk_max_pool_backward_avx512(const float *g, const uint8_t *a, long i, long h, long w, long c, long p, float *d, float *b) {
    (void)g; (void)a; (void)i; (void)h; (void)w; (void)c; (void)p; (void)d; (void)b;
}
void leuk_winograd_relu_pool_forward_avx512(const float *p, long i, long h, long w, long ci, long co, const float *u,
                                            const float *b, float *s, float *o, uint8_t *a) {
    (void)p; (void)i; (void)h; (void)w; (void)ci; (void)co; (void)u; (void)b; (void)s; (void)o; (void)a;
}
#endif

int leuk_winograd_supported(long in_channels, long out_channels, long height, long width) {
    return in_channels > 0 && in_channels % 16 == 0 && out_channels > 0 && out_channels % 32 == 0 && height > 0 &&
           height % 2 == 0 && width > 0 && width % 16 == 0;
}

long leuk_winograd_scratch_floats(long in_channels, long out_channels, long width) {
    return 16 * (width / 2) * (in_channels + out_channels);
}

/// G g G^T with G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]: first down each kernel column
/// (ky), then along each row (kx), output channels innermost.
void leuk_winograd_transform_weights(const float *weight, long in_channels, long out_channels, float *transformed) {
    const long c = in_channels, co = out_channels;
    for (long ci = 0; ci < c; ci++) {
        for (long o = 0; o < co; o++) {
            float g[3][3], h[4][3];
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) g[ky][kx] = weight[((ky * 3 + kx) * c + ci) * co + o];
            for (int kx = 0; kx < 3; kx++) {
                h[0][kx] = g[0][kx];
                h[1][kx] = 0.5f * ((g[0][kx] + g[1][kx]) + g[2][kx]);
                h[2][kx] = 0.5f * ((g[0][kx] - g[1][kx]) + g[2][kx]);
                h[3][kx] = g[2][kx];
            }
            for (int a = 0; a < 4; a++) {
                float *u = transformed + ((a * 4) * c + ci) * co + o;
                u[0] = h[a][0];
                u[c * co] = 0.5f * ((h[a][0] + h[a][1]) + h[a][2]);
                u[2 * c * co] = 0.5f * ((h[a][0] - h[a][1]) + h[a][2]);
                u[3 * c * co] = h[a][2];
            }
        }
    }
}

/// The zero border and interior of `leuk_pad_nhwc` and `leuk_pad_nchw_to_nhwc`: the input's rows are
/// copied as they are (NHWC) or gathered from the channel planes (NCHW).
static inline void pad_images(const float *input, long images, long height, long width, long channels, long pad,
                              int from_nchw, float *output) {
    const long pw = width + 2 * pad, ph = height + 2 * pad, row = width * channels, plane = height * width;
    for (long n = 0; n < images; n++) {
        const float *src = input + n * height * row;
        float *dst = output + n * ph * pw * channels;
        memset(dst, 0, sizeof(float) * pad * pw * channels);
        for (long y = 0; y < height; y++) {
            float *line = dst + (y + pad) * pw * channels;
            memset(line, 0, sizeof(float) * pad * channels);
            float *pixels = line + pad * channels;
            if (from_nchw && channels == 3) {  // the network's RGB input: a constant stride the compiler unrolls
                const float *r = src + y * width, *g = r + plane, *b = g + plane;
                for (long x = 0; x < width; x++) {
                    pixels[3 * x] = r[x];
                    pixels[3 * x + 1] = g[x];
                    pixels[3 * x + 2] = b[x];
                }
            } else if (from_nchw) {
                for (long x = 0; x < width; x++)
                    for (long c = 0; c < channels; c++) pixels[x * channels + c] = src[c * plane + y * width + x];
            } else {
                memcpy(pixels, src + y * row, sizeof(float) * row);
            }
            memset(pixels + row, 0, sizeof(float) * pad * channels);
        }
        memset(dst + (height + pad) * pw * channels, 0, sizeof(float) * pad * pw * channels);
    }
}

void leuk_pad_nhwc(const float *input, long images, long height, long width, long channels, long pad, float *output) {
    pad_images(input, images, height, width, channels, pad, 0, output);
}

void leuk_pad_nchw_to_nhwc(const float *input, long images, long height, long width, long channels, long pad,
                           float *output) {
    pad_images(input, images, height, width, channels, pad, 1, output);
}
