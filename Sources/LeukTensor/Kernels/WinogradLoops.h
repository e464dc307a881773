// Winograd F(2x2, 3x3) forward pass of a 3x3 "same" convolution fused with bias, ReLU and 2x2 max-pool, for
// inference (Lavin and Gray, 2016). Each 2x2 output tile is exactly one pooling window, so a tile's four
// outputs are pooled in registers as they leave the output transform. A tile costs 16 x C x Co
// multiplications where the direct kernel pays 36 x C x Co: 2.25x fewer, for two small transforms.
//
// Written once for every vector set: Kernels.c (AVX-512) and KernelsAVX2.c include this file, before
// VectorLoops.h, after defining the macros VectorLoops.h documents (LEUK_VECTOR_ATTRIBUTE, LEUK_VECTOR_SUFFIX,
// LEUK_LANES, LEUK_POOL) and
//   LEUK_VEC                  the vector type,
//   LEUK_VLOAD, LEUK_VSTORE   unaligned load (p) and store (p, v),
//   LEUK_VADD, LEUK_VSUB      a + b, a - b,
//   LEUK_VFMA                 (a, b, c): a * b + c, fused,
//   LEUK_VBCAST               (p): *p in every lane,
//   LEUK_VZERO                (): zeros,
//   LEUK_TILE_BLOCK           tiles per register block of the products (16 accumulators or fewer).
// Every lane runs the same operations in the same order whatever the vector width (each transform is a
// fixed sequence of additions; each product sums its input channels in order with FMAs, starting from
// zero), so the sets give the same bits. Not a public header: it lives beside the sources.

#define LEUK_WNAME2(base, suffix) base##_##suffix
#define LEUK_WNAME(base, suffix) LEUK_WNAME2(base, suffix)

/// M[t][co0 .. co0 + 2 lanes) = sum over ci of V[t][ci] * U[ci][co0 ..], for LEUK_TILE_BLOCK tiles: `v` is
/// the first tile's row of C transformed inputs, `u` the C x co transformed weights of this position from
/// column co0, `m` the first tile's row of co products from column co0.
LEUK_VECTOR_ATTRIBUTE __attribute__((always_inline)) static inline void LEUK_WNAME(winograd_products, LEUK_VECTOR_SUFFIX)(
    const float *v, long c, const float *u, long co, float *m) {
    LEUK_VEC acc[LEUK_TILE_BLOCK][2];
    for (int t = 0; t < LEUK_TILE_BLOCK; t++) acc[t][0] = acc[t][1] = LEUK_VZERO();
    for (long ci = 0; ci < c; ci++) {
        const LEUK_VEC w0 = LEUK_VLOAD(u + ci * co), w1 = LEUK_VLOAD(u + ci * co + LEUK_LANES);
        for (int t = 0; t < LEUK_TILE_BLOCK; t++) {
            const LEUK_VEC x = LEUK_VBCAST(v + t * c + ci);
            acc[t][0] = LEUK_VFMA(x, w0, acc[t][0]);
            acc[t][1] = LEUK_VFMA(x, w1, acc[t][1]);
        }
    }
    for (int t = 0; t < LEUK_TILE_BLOCK; t++) {
        LEUK_VSTORE(m + t * co, acc[t][0]);
        LEUK_VSTORE(m + t * co + LEUK_LANES, acc[t][1]);
    }
}

/// One pooled row at a time (pooled_w tiles): the input transform of every tile into `v` (16 positions x
/// tiles x C), the products position by position into `m` (16 x tiles x Co), then the output transform,
/// bias, ReLU and pooling of every tile.
LEUK_VECTOR_ATTRIBUTE void LEUK_WNAME(leuk_winograd_relu_pool_forward, LEUK_VECTOR_SUFFIX)(
    const float *padded, long images, long height, long width, long in_channels, long out_channels,
    const float *transformed_weight, const float *bias, float *scratch, float *output, uint8_t *argmax) {
    const long c = in_channels, co = out_channels, row_floats = (width + 2) * c;
    const long pooled_h = height / 2, pooled_w = width / 2;
    float *v = scratch, *m = scratch + 16 * pooled_w * c;
    for (long n = 0; n < images; n++) {
        const float *image = padded + n * (height + 2) * row_floats;
        for (long py = 0; py < pooled_h; py++) {
            for (long t = 0; t < pooled_w; t++) {
                const float *d = image + (2 * py) * row_floats + (2 * t) * c;
                for (long ci = 0; ci < c; ci += LEUK_LANES) {
                    LEUK_VEC x[4][4], e[4][4];
                    for (int r = 0; r < 4; r++)
                        for (int s = 0; s < 4; s++) x[r][s] = LEUK_VLOAD(d + r * row_floats + s * c + ci);
                    for (int s = 0; s < 4; s++) {  // B^T d
                        e[0][s] = LEUK_VSUB(x[0][s], x[2][s]);
                        e[1][s] = LEUK_VADD(x[1][s], x[2][s]);
                        e[2][s] = LEUK_VSUB(x[2][s], x[1][s]);
                        e[3][s] = LEUK_VSUB(x[1][s], x[3][s]);
                    }
                    for (int r = 0; r < 4; r++) {  // (B^T d) B
                        float *out = v + ((4 * r) * pooled_w + t) * c + ci;
                        LEUK_VSTORE(out, LEUK_VSUB(e[r][0], e[r][2]));
                        LEUK_VSTORE(out + pooled_w * c, LEUK_VADD(e[r][1], e[r][2]));
                        LEUK_VSTORE(out + 2 * pooled_w * c, LEUK_VSUB(e[r][2], e[r][1]));
                        LEUK_VSTORE(out + 3 * pooled_w * c, LEUK_VSUB(e[r][1], e[r][3]));
                    }
                }
            }
            for (int xi = 0; xi < 16; xi++)
                for (long t0 = 0; t0 < pooled_w; t0 += LEUK_TILE_BLOCK)
                    for (long co0 = 0; co0 < co; co0 += 2 * LEUK_LANES)
                        LEUK_WNAME(winograd_products, LEUK_VECTOR_SUFFIX)(
                            v + (xi * pooled_w + t0) * c, c, transformed_weight + xi * c * co + co0, co,
                            m + (xi * pooled_w + t0) * co + co0);
            for (long t = 0; t < pooled_w; t++) {
                const long o = ((n * pooled_h + py) * pooled_w + t) * co;
                for (long co0 = 0; co0 < co; co0 += LEUK_LANES) {
                    LEUK_VEC q[16], p0[4], p1[4];
                    for (int xi = 0; xi < 16; xi++) q[xi] = LEUK_VLOAD(m + (xi * pooled_w + t) * co + co0);
                    for (int s = 0; s < 4; s++) {  // A^T M
                        p0[s] = LEUK_VADD(LEUK_VADD(q[s], q[4 + s]), q[8 + s]);
                        p1[s] = LEUK_VSUB(LEUK_VSUB(q[4 + s], q[8 + s]), q[12 + s]);
                    }
                    // (A^T M) A: the window's top-left, top-right, bottom-left and bottom-right outputs.
                    float y[4][LEUK_LANES] __attribute__((aligned(64)));
                    LEUK_VSTORE(y[0], LEUK_VADD(LEUK_VADD(p0[0], p0[1]), p0[2]));
                    LEUK_VSTORE(y[1], LEUK_VSUB(LEUK_VSUB(p0[1], p0[2]), p0[3]));
                    LEUK_VSTORE(y[2], LEUK_VADD(LEUK_VADD(p1[0], p1[1]), p1[2]));
                    LEUK_VSTORE(y[3], LEUK_VSUB(LEUK_VSUB(p1[1], p1[2]), p1[3]));
                    LEUK_POOL(y[0], y[1], y[2], y[3], bias + co0, 1, output + o + co0, argmax + o + co0);
                }
            }
        }
    }
}

#undef LEUK_WNAME
#undef LEUK_WNAME2
#undef LEUK_VEC
#undef LEUK_VLOAD
#undef LEUK_VSTORE
#undef LEUK_VADD
#undef LEUK_VSUB
#undef LEUK_VFMA
#undef LEUK_VBCAST
#undef LEUK_VZERO
#undef LEUK_TILE_BLOCK
