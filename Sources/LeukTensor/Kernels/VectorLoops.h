// The loops of the kernels that only move values: im2col and its adjoint for 3x3, stride 1, padding 1
// convolutions over NHWC images, and the 2x2 max-pool forward and backward passes. Written once for every
// vector set: Kernels.c (AVX-512) and KernelsAVX2.c include this file after defining
//   LEUK_VECTOR_ATTRIBUTE  the target attribute of the set,
//   LEUK_VECTOR_SUFFIX     the function name suffix (avx512, avx2),
//   LEUK_LANES             floats per vector (16, 8),
//   LEUK_COPY, LEUK_ZERO, LEUK_ADD  (src, dst, count) / (dst, count) / (src, dst, count) helpers of that
//                          set, for counts that are multiples of LEUK_LANES,
//   LEUK_POOL              (p0, p1, p2, p3, bias or NULL, relu, out, arg): one vector of pooled values and
//                          argmax codes from the four window positions,
//   LEUK_ROUTE             (grad, arg, p0, p1, p2, p3, bias_gradient or NULL): its backward pass.
// These kernels only move, compare and add values in the order the portable Swift paths do, so every set
// gives the same bits as they do. Not a public header: it lives beside the sources, outside include/.

#define LEUK_NAME2(base, suffix) base##_##suffix
#define LEUK_NAME(base, suffix) LEUK_NAME2(base, suffix)

LEUK_VECTOR_ATTRIBUTE void LEUK_NAME(leuk_gather3x3, LEUK_VECTOR_SUFFIX)(const float *input, long images, long height,
                                                                         long width, long channels, float *columns) {
    const long c = channels, span = 3 * c;
    float *row = columns;
    for (long n = 0; n < images; n++) {
        const float *image = input + n * height * width * c;
        for (long y = 0; y < height; y++) {
            for (long x = 0; x < width; x++) {
                for (long ky = 0; ky < 3; ky++) {
                    float *dst = row + ky * span;
                    const long iy = y - 1 + ky;
                    if (iy < 0 || iy >= height) { LEUK_ZERO(dst, span); continue; }
                    const float *src = image + iy * width * c;
                    if (x > 0 && x + 1 < width) {
                        LEUK_COPY(src + (x - 1) * c, dst, span);
                    } else {
                        for (long kx = 0; kx < 3; kx++) {
                            const long ix = x - 1 + kx;
                            if (ix < 0 || ix >= width) LEUK_ZERO(dst + kx * c, c);
                            else LEUK_COPY(src + ix * c, dst + kx * c, c);
                        }
                    }
                }
                row += 9 * c;
            }
        }
    }
}

LEUK_VECTOR_ATTRIBUTE void LEUK_NAME(leuk_scatter_add3x3, LEUK_VECTOR_SUFFIX)(const float *columns, long images,
                                                                              long height, long width, long channels,
                                                                              float *input) {
    const long c = channels, span = 3 * c;
    const float *row = columns;
    for (long n = 0; n < images; n++) {
        float *image = input + n * height * width * c;
        for (long y = 0; y < height; y++) {
            for (long x = 0; x < width; x++) {
                for (long ky = 0; ky < 3; ky++) {
                    const long iy = y - 1 + ky;
                    if (iy < 0 || iy >= height) continue;
                    const float *src = row + ky * span;
                    float *dst = image + iy * width * c;
                    if (x > 0 && x + 1 < width) {
                        LEUK_ADD(src, dst + (x - 1) * c, span);
                    } else {
                        for (long kx = 0; kx < 3; kx++) {
                            const long ix = x - 1 + kx;
                            if (ix >= 0 && ix < width) LEUK_ADD(src + kx * c, dst + ix * c, c);
                        }
                    }
                }
                row += 9 * c;
            }
        }
    }
}

LEUK_VECTOR_ATTRIBUTE void LEUK_NAME(leuk_max_pool_forward, LEUK_VECTOR_SUFFIX)(
    const float *input, long images, long height, long width, long channels, const float *bias, int relu,
    float *output, uint8_t *argmax) {
    const long c = channels, pooled_h = height / 2, pooled_w = width / 2;
    float *out = output;
    uint8_t *arg = argmax;
    for (long n = 0; n < images; n++) {
        const float *image = input + n * height * width * c;
        for (long y = 0; y < pooled_h; y++) {
            for (long x = 0; x < pooled_w; x++) {
                const float *p0 = image + ((2 * y) * width + 2 * x) * c;
                const float *p1 = p0 + c, *p2 = p0 + width * c, *p3 = p2 + c;
                for (long ch = 0; ch < c; ch += LEUK_LANES)
                    LEUK_POOL(p0 + ch, p1 + ch, p2 + ch, p3 + ch, bias ? bias + ch : 0, relu, out + ch, arg + ch);
                out += c;
                arg += c;
            }
        }
    }
}

LEUK_VECTOR_ATTRIBUTE void LEUK_NAME(leuk_max_pool_backward, LEUK_VECTOR_SUFFIX)(
    const float *pooled_gradient, const uint8_t *argmax, long images, long height, long width, long channels,
    long pad, float *input_gradient, float *bias_gradient) {
    const long c = channels, pooled_h = height / 2, pooled_w = width / 2;
    const long row = width + 2 * pad;
    const float *grad = pooled_gradient;
    const uint8_t *arg = argmax;
    for (long n = 0; n < images; n++) {
        float *image = input_gradient + n * (height + 2 * pad) * row * c + (pad * row + pad) * c;
        for (long y = 0; y < pooled_h; y++) {
            for (long x = 0; x < pooled_w; x++) {
                float *p0 = image + ((2 * y) * row + 2 * x) * c;
                float *p1 = p0 + c, *p2 = p0 + row * c, *p3 = p2 + c;
                for (long ch = 0; ch < c; ch += LEUK_LANES)
                    LEUK_ROUTE(grad + ch, arg + ch, p0 + ch, p1 + ch, p2 + ch, p3 + ch, bias_gradient ? bias_gradient + ch : 0);
                grad += c;
                arg += c;
            }
        }
    }
}

#undef LEUK_NAME
#undef LEUK_NAME2
#undef LEUK_VECTOR_ATTRIBUTE
#undef LEUK_VECTOR_SUFFIX
#undef LEUK_COPY
#undef LEUK_ZERO
#undef LEUK_ADD
#undef LEUK_LANES
#undef LEUK_POOL
#undef LEUK_ROUTE
