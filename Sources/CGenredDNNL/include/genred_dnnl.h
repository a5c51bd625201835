#ifndef GENRED_DNNL_H
#define GENRED_DNNL_H

#include <stddef.h>

/// Reduced-precision products for the network's GEMMs, through oneDNN's matmul primitive,
/// which picks its kernels (AMX, AVX512-BF16, ...) from the CPU at run time.
///
/// A product is `C = A * B` (or `C += A * B`) where `B` (k x n, the layer's weights) is fixed
/// and converted once, and `A` (m x k, activations) is converted at each run. `C` is fp32.

/// `GD_PRECISION_BF16`: A and B rounded to bfloat16, fp32 sums. `GD_PRECISION_BF16_SPLIT`:
/// each of A and B split into two bfloat16 parts (x = hi + lo, about 16 significant bits), and
/// the three products that matter (hi·hi, hi·lo, lo·hi) summed in fp32 as one product with
/// K three times as long; close to fp32, at three times the bf16 work. `GD_PRECISION_INT8`:
/// each row of A quantized to [-127, 127] on its own step (its largest |value| over 127),
/// measured at each run; B per output column; integer sums, scaled back to fp32 per row and
/// column. `GD_PRECISION_INT8_STATIC`: the same with one fixed step for all of A (calibrated
/// per product ahead of time, `a_scale`).
enum { GD_PRECISION_BF16 = 1, GD_PRECISION_BF16_SPLIT = 2, GD_PRECISION_INT8 = 3, GD_PRECISION_INT8_STATIC = 4 };

/// 1 when oneDNN runs `precision` with native instructions on this CPU (no emulation), else
/// 0; `what` receives the oneDNN ISA and the kernel it chose, or why there is none.
int gd_native(int precision, char *what, size_t what_size);

typedef struct gd_product gd_product;

/// Prepares `C (m x n, ldc) = A (m x k) * B (k x n, ldb)`; `accumulate` adds to C instead.
/// `a_scale` (static int8 only) is the step of A's quantization: A's values past 127 steps are
/// clamped. NULL on failure, with the reason in `error`.
gd_product *gd_product_create(int precision, int m, int n, int k, const float *b, int ldb, int ldc,
                              int accumulate, float a_scale, char *error, size_t error_size);

/// Runs the product for `a`: row-major `m x k` with leading dimension `lda`, or, with
/// `transpose_a`, stored as `k x m` with leading dimension `lda`. Safe to call from several
/// threads at once; each thread keeps its own scratch memory. 0 on success.
int gd_product_run(const gd_product *p, const float *a, int lda, int transpose_a, float *c);

void gd_product_destroy(gd_product *p);

/// Rounds to bfloat16 (nearest, ties to even) and back: what the bf16 products see.
float gd_round_bf16(float x);

#endif
