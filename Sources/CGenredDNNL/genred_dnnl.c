#include "genred_dnnl.h"

#include <immintrin.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* oneDNN is built with OpenMP here: each analysis thread runs its products on itself alone. */
extern void omp_set_num_threads(int);

struct gd_product {
    int precision, m, n, k, ldc;
    int terms;             /* bf16 parts summed along K: 1 (plain bf16) or 3 (split bf16) */
    float a_inverse;       /* int8-static: 1 / A's calibrated scale */
    int accumulate;        /* C += A * B (int8 by rows: added by hand, not by a post-op) */
    int id;                /* index of this product's memory objects in each thread's table */
    dnnl_primitive_t primitive;
    dnnl_memory_desc_t src, weights, dst, scratch;
    void *packed;          /* the weights in the layout the primitive chose */
    size_t scratch_size;
};

static dnnl_engine_t shared_engine;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void make_engine(void) {
    if (dnnl_engine_create(&shared_engine, dnnl_cpu, 0) != dnnl_success) shared_engine = NULL;
}

static dnnl_engine_t engine(void) {
    pthread_once(&engine_once, make_engine);
    return shared_engine;
}

/* Per thread: a stream, the converted A, and the primitive's scratchpad. */
static __thread dnnl_stream_t thread_stream;
static __thread uint16_t *thread_a;
static __thread size_t thread_a_size;
static __thread uint16_t *thread_column;
static __thread size_t thread_column_size;
static __thread float *thread_row_steps;
static __thread size_t thread_row_steps_size;
static __thread float *thread_c;
static __thread size_t thread_c_size;
static __thread void *thread_scratch;
static __thread size_t thread_scratch_size;

/* Per thread and product: the four memory objects of a run, made on the thread's first run of
 * the product and pointed at each run's buffers after (much cheaper than making them each
 * time). Products live as long as the process (the bundle's), so these are never freed. */
typedef struct { dnnl_memory_t src, weights, dst, scratch; } gd_bound;
static __thread gd_bound *thread_bound;
static __thread int thread_bound_count;
static int next_product_id;

static inline uint16_t to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float gd_round_bf16(float x) {
    uint32_t u = (uint32_t)to_bf16(x) << 16;
    float y;
    memcpy(&y, &u, 4);
    return y;
}

/* What x leaves over after its bf16 rounding, itself in bf16: x ≈ hi + lo to about 16 bits. */
static inline uint16_t bf16_rest(float x, uint16_t hi) {
    uint32_t u = (uint32_t)hi << 16;
    float h;
    memcpy(&h, &u, 4);
    float rest = x - h;
    if (rest != rest) return 0; /* infinity or NaN: hi holds it */
    return to_bf16(rest);
}

/* The split form's K blocks: a_hi·b_hi + a_hi·b_lo + a_lo·b_hi, so A's rows are
 * [a_hi | a_hi | a_lo] and B's rows [b_hi; b_lo; b_hi]; term_b says which part of B each block
 * holds (0 the rounded value, 1 what it leaves over). a_lo·b_lo (about 2^-18 of the product)
 * is left out. */
static const int term_b[3] = {0, 1, 0};

/* Converts x[0..<count] to bf16 parts: hi[i] = bf16(x[i]) and, if lo is not NULL,
 * lo[i] = bf16(x[i] - hi[i]); the same values as to_bf16 and bf16_rest, element by element. */
static void convert_scalar(const float *x, uint16_t *hi, uint16_t *lo, int count) {
    for (int i = 0; i < count; i++) {
        hi[i] = to_bf16(x[i]);
        if (lo) lo[i] = bf16_rest(x[i], hi[i]);
    }
}

/* to_bf16 on 16 lanes: round to nearest even; NaN becomes a quiet NaN. */
__attribute__((target("avx512f")))
static inline __m512i round16(__m512i u) {
    const __m512i abs = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7f800000));
    const __m512i top = _mm512_srli_epi32(u, 16);
    const __m512i odd = _mm512_and_si512(top, _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd)), 16);
    return _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(top, _mm512_set1_epi32(0x40)));
}

__attribute__((target("avx512f")))
static void convert_avx512(const float *x, uint16_t *hi, uint16_t *lo, int count) {
    int i = 0;
    for (; i + 16 <= count; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __m512i h = round16(_mm512_castps_si512(v));
        _mm256_storeu_si256((__m256i *)(hi + i), _mm512_cvtepi32_epi16(h));
        if (lo) {
            const __m512 rest = _mm512_sub_ps(v, _mm512_castsi512_ps(_mm512_slli_epi32(h, 16)));
            /* infinity or NaN leave a NaN: their rest is 0 (hi holds them) */
            const __mmask16 ok = _mm512_cmp_ps_mask(rest, rest, _CMP_ORD_Q);
            const __m512i l = _mm512_maskz_mov_epi32(ok, round16(_mm512_castps_si512(rest)));
            _mm256_storeu_si256((__m256i *)(lo + i), _mm512_cvtepi32_epi16(l));
        }
    }
    convert_scalar(x + i, hi + i, lo ? lo + i : NULL, count - i);
}

/* q[i] = x[i] * inverse (or * each[i], where each is not NULL) rounded to nearest (ties to
 * even) and clamped to [-127, 127]; NaN to 0. */
static void quantize_scalar(const float *x, int8_t *q, float inverse, const float *each, int count) {
    for (int i = 0; i < count; i++) {
        float v = x[i] * (each ? each[i] : inverse);
        if (v != v) v = 0;
        v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
        q[i] = (int8_t)lrintf(v);
    }
}

__attribute__((target("avx512f")))
static void quantize_avx512(const float *x, int8_t *q, float inverse, const float *each, int count) {
    const __m512 scale = _mm512_set1_ps(inverse), high = _mm512_set1_ps(127.0f), low = _mm512_set1_ps(-127.0f);
    int i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + i), each ? _mm512_loadu_ps(each + i) : scale);
        v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);
        v = _mm512_min_ps(_mm512_max_ps(v, low), high);
        _mm_storeu_si128((__m128i *)(q + i), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
    }
    quantize_scalar(x + i, q + i, inverse, each ? each + i : NULL, count - i);
}

/* The largest |x[i]|, NaN skipped. */
static float largest_scalar(const float *x, int count) {
    float m = 0;
    for (int i = 0; i < count; i++) { float v = fabsf(x[i]); if (v > m) m = v; }
    return m;
}

__attribute__((target("avx512f")))
static float largest_avx512(const float *x, int count) {
    __m512 m = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= count; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
    float rest = largest_scalar(x + i, count - i), lanes = _mm512_reduce_max_ps(m);
    return rest > lanes ? rest : lanes;
}

static float (*largest)(const float *, int);
static void (*quantize)(const float *, int8_t *, float, const float *, int);

static void (*convert)(const float *, uint16_t *, uint16_t *, int);
static pthread_once_t convert_once = PTHREAD_ONCE_INIT;

static void choose_convert(void) {
    __builtin_cpu_init();
    convert = __builtin_cpu_supports("avx512f") ? convert_avx512 : convert_scalar;
    quantize = __builtin_cpu_supports("avx512f") ? quantize_avx512 : quantize_scalar;
    largest = __builtin_cpu_supports("avx512f") ? largest_avx512 : largest_scalar;
}


static int is_int8(int precision) {
    return precision == GD_PRECISION_INT8 || precision == GD_PRECISION_INT8_STATIC;
}

/* int8 by rows: each row of A gets its own step at each run. */
static int by_rows(const gd_product *p) { return p->precision == GD_PRECISION_INT8; }

/* The step that maps a row whose largest |value| is top onto [-127, 127]; 1 for a row of zeros
 * (or NaN), whose quantized values are then 0. */
static float row_step(float top) { return top > 0 && top == top ? top / 127.0f : 1.0f; }

static int precision_terms(int precision) {
    switch (precision) {
    case GD_PRECISION_BF16: return 1;
    case GD_PRECISION_BF16_SPLIT: return 3;
    case GD_PRECISION_INT8: return 1;
    case GD_PRECISION_INT8_STATIC: return 1;
    default: return 0;
    }
}

static void say(char *out, size_t size, const char *what) {
    if (out && size) snprintf(out, size, "%s", what);
}

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_avx512_core_amx: return "AMX";
    case dnnl_cpu_isa_avx512_core_bf16: return "AVX512-BF16";
    case dnnl_cpu_isa_avx512_core_vnni: return "AVX512-VNNI";
    case dnnl_cpu_isa_avx512_core: return "AVX-512";
    case dnnl_cpu_isa_avx2_vnni: return "AVX-VNNI";
    case dnnl_cpu_isa_avx2: return "AVX2";
    default: return "older than AVX2";
    }
}

/* 1 when this process may turn written memory into code, as oneDNN does to make its kernels;
 * 0 where that is refused (a systemd unit's MemoryDenyWriteExecute=yes, or the kernel's
 * PR_SET_MDWE). */
static int code_can_be_made(void) {
    const size_t size = (size_t)sysconf(_SC_PAGESIZE);
    void *page = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return 1;  /* no memory: not the question asked */
    const int allowed = mprotect(page, size, PROT_READ | PROT_EXEC) == 0;
    munmap(page, size);
    return allowed;
}

int gd_native(int precision, char *what, size_t what_size) {
    if (!precision_terms(precision)) { say(what, what_size, "unknown precision"); return 0; }
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    char error[160] = "";
    float b[64 * 64];
    for (int i = 0; i < 64 * 64; i++) b[i] = 0.5f;
    gd_product *p = gd_product_create(precision, 64, 64, 64, b, 64, 64, 0, 1.0f, error, sizeof error);
    if (!p) {
        char text[320];
        if (!code_can_be_made())
            snprintf(text, sizeof text, "oneDNN on %s: %s; this process may not make memory executable "
                     "(MemoryDenyWriteExecute=yes in a systemd unit, for example), and oneDNN makes its "
                     "kernels as it runs", isa_name(isa), error);
        else
            snprintf(text, sizeof text, "oneDNN on %s: %s", isa_name(isa), error);
        say(what, what_size, text);
        return 0;
    }
    const char *impl = "";
    dnnl_primitive_desc_t pd;
    dnnl_primitive_get_primitive_desc(p->primitive, (const_dnnl_primitive_desc_t *)&pd);
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    /* A bf16 kernel names it (…_bf16, …_amx); anything else converts to fp32. int8 needs a
     * dot-product instruction (VNNI or AMX): without one, oneDNN's integer kernels multiply
     * u8 by s8 in pairs summed into 16 bits (vpmaddubsw), which saturates on full-range 8-bit
     * values. On a Zen 3 (AVX2) that gave embeddings at a cosine of 0.40 from fp32's, and ran
     * at 0.59x fp32's speed (docs/speed.md), so such a CPU computes in fp32 instead. */
    const int dot_product = isa == dnnl_cpu_isa_avx2_vnni || isa == dnnl_cpu_isa_avx512_core_vnni
                            || isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx;
    int native = is_int8(precision)
                 ? strstr(impl, "ref") == NULL && dot_product
                 : (strstr(impl, "bf16") != NULL || strstr(impl, "amx") != NULL)
                   && (isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx);
    char text[256];
    if (is_int8(precision) && !dot_product)
        snprintf(text, sizeof text, "oneDNN on %s has no int8 dot product (VNNI or AMX): its kernel %s "
                 "sums pairs in 16 bits, which saturates", isa_name(isa), impl);
    else
        snprintf(text, sizeof text, "oneDNN on %s, kernel %s", isa_name(isa), impl);
    say(what, what_size, text);
    gd_product_destroy(p);
    return native;
}

gd_product *gd_product_create(int precision, int m, int n, int k, const float *b, int ldb, int ldc,
                              int accumulate, float a_scale, char *error, size_t error_size) {
    dnnl_engine_t e = engine();
    if (!e) { say(error, error_size, "oneDNN has no CPU engine"); return NULL; }
    const int terms = precision_terms(precision);
    if (!terms) { say(error, error_size, "unknown precision"); return NULL; }
    gd_product *p = calloc(1, sizeof *p);
    if (!p) { say(error, error_size, "out of memory"); return NULL; }
    p->precision = precision; p->m = m; p->n = n; p->k = k; p->ldc = ldc; p->terms = terms;
    const int int8 = is_int8(precision), rows = by_rows(p);
    const dnnl_data_type_t type = int8 ? dnnl_s8 : dnnl_bf16;
    const size_t element = int8 ? 1 : 2;
    float *column_scales = NULL;
    p->accumulate = accumulate;
    if (int8 && !rows && !(a_scale > 0)) { say(error, error_size, "int8-static needs a positive scale for A"); free(p); return NULL; }
    p->a_inverse = int8 && !rows ? 1.0f / a_scale : 1.0f;
    if (rows) a_scale = 1.0f;  /* each row's step is applied after the product */
    const int kk = terms * k;  /* the product's K: the terms side by side */
    p->id = __atomic_fetch_add(&next_product_id, 1, __ATOMIC_RELAXED);

    dnnl_dims_t src_dims = {m, kk}, weight_dims = {kk, n}, dst_dims = {m, n};
    /* By rows, a product that adds to C writes into a buffer of its own first. */
    dnnl_dims_t dst_strides = {rows && accumulate ? n : ldc, 1};
    dnnl_memory_desc_t weights_any, plain;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL, reorder_pd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t from = NULL, to = NULL;
    dnnl_stream_t stream = NULL;
    void *converted = NULL;
    dnnl_matmul_desc_t desc;
    const char *failed = NULL;

#define TRY(call, what) do { if ((call) != dnnl_success) { failed = what; goto fail; } } while (0)
    TRY(dnnl_memory_desc_init_by_tag(&p->src, 2, src_dims, type, dnnl_ab), "source layout");
    TRY(dnnl_memory_desc_init_by_tag(&weights_any, 2, weight_dims, type, dnnl_format_tag_any), "weights layout");
    TRY(dnnl_memory_desc_init_by_strides(&p->dst, 2, dst_dims, dnnl_f32, dst_strides), "destination layout");
    TRY(dnnl_matmul_desc_init(&desc, &p->src, &weights_any, NULL, &p->dst), "matmul");
    TRY(dnnl_primitive_attr_create(&attr), "attributes");
    TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad");
    if (int8) {
        /* Weights per output column, symmetric: w = scale[c] * q with q in [-127, 127]; C's
         * column c is scaled back by A's scale times scale[c]. */
        column_scales = malloc(sizeof(float) * (size_t)n);
        if (!column_scales) { failed = "out of memory"; goto fail; }
        for (int c = 0; c < n; c++) {
            float largest = 0;
            for (int r = 0; r < k; r++) { float v = fabsf(b[(size_t)r * ldb + c]); if (v > largest) largest = v; }
            column_scales[c] = largest > 0 ? largest / 127.0f : 1.0f;
        }
        float *output_scales = malloc(sizeof(float) * (size_t)n);
        if (!output_scales) { failed = "out of memory"; goto fail; }
        for (int c = 0; c < n; c++) output_scales[c] = a_scale * column_scales[c];
        dnnl_status_t set = dnnl_primitive_attr_set_output_scales(attr, n, 1 << 1, output_scales);
        free(output_scales);
        TRY(set, "output scales");
    }
    if (accumulate && !rows) {
        TRY(dnnl_post_ops_create(&ops), "post-ops");
        TRY(dnnl_post_ops_append_sum(ops, 1.0f), "sum post-op");
        TRY(dnnl_primitive_attr_set_post_ops(attr, ops), "post-ops");
    }
    TRY(dnnl_primitive_desc_create(&pd, &desc, attr, e, NULL), "no matmul for this shape");
    p->weights = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    p->scratch = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    p->scratch_size = dnnl_memory_desc_get_size(&p->scratch);
    TRY(dnnl_primitive_create(&p->primitive, pd), "its kernel could not be made");

    /* The weights: to bf16, then into the primitive's layout, once. */
    converted = malloc(element * (size_t)kk * (size_t)n);
    p->packed = malloc(dnnl_memory_desc_get_size(&p->weights) + 64);
    if (!converted || !p->packed) { failed = "out of memory"; goto fail; }
    for (int r = 0; r < k; r++)
        for (int c = 0; c < n; c++) {
            float x = b[(size_t)r * ldb + c];
            if (int8) {
                float q = nearbyintf(x / column_scales[c]);
                ((int8_t *)converted)[(size_t)r * n + c] = (int8_t)(q > 127 ? 127 : (q < -127 ? -127 : q));
                continue;
            }
            uint16_t hi = to_bf16(x), lo = terms > 1 ? bf16_rest(x, hi) : 0;
            for (int t = 0; t < terms; t++) ((uint16_t *)converted)[((size_t)t * k + r) * n + c] = term_b[t] ? lo : hi;
        }
    TRY(dnnl_memory_desc_init_by_tag(&plain, 2, weight_dims, type, dnnl_ab), "weights");
    TRY(dnnl_memory_create(&from, &plain, e, converted), "weights");
    TRY(dnnl_memory_create(&to, &p->weights, e, p->packed), "weights");
    TRY(dnnl_reorder_primitive_desc_create(&reorder_pd, &plain, e, &p->weights, e, NULL), "weights reorder");
    TRY(dnnl_primitive_create(&reorder, reorder_pd), "weights reorder");
    TRY(dnnl_stream_create(&stream, e, dnnl_stream_default_flags), "stream");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    TRY(dnnl_primitive_execute(reorder, stream, 2, args), "weights reorder");
    TRY(dnnl_stream_wait(stream), "weights reorder");
#undef TRY
    goto done;
fail:
    say(error, error_size, failed);
    gd_product_destroy(p);
    p = NULL;
done:
    if (stream) dnnl_stream_destroy(stream);
    if (reorder) dnnl_primitive_destroy(reorder);
    if (reorder_pd) dnnl_primitive_desc_destroy(reorder_pd);
    if (from) dnnl_memory_destroy(from);
    if (to) dnnl_memory_destroy(to);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    free(converted);
    free(column_scales);
    return p;
}

/* This thread's buffer for one stored row of a transposed A: 2 * count bf16 values (4 * count
 * bytes). */
static uint16_t *column_buffer(size_t count) {
    if (thread_column_size < 2 * count) {
        free(thread_column);
        thread_column = malloc(2 * count * sizeof(uint16_t));
        thread_column_size = thread_column ? 2 * count : 0;
    }
    return thread_column;
}

/* *buffer with room for count floats, grown (contents dropped) where it has less; NULL when
 * memory runs out. */
static float *grow_floats(float **buffer, size_t *size, size_t count) {
    if (*size < count) {
        free(*buffer);
        *buffer = malloc(count * sizeof(float));
        *size = *buffer ? count : 0;
    }
    return *buffer;
}

/* A (m x k, or stored k x m where transposed) quantized into q (m x k) for an int8 product:
 * with one step for all of A (static), or, where steps is not NULL, with each row's own step
 * (its largest |value| over 127), written to steps. 0, or -1 when memory runs out. */
static int quantize_a(const gd_product *p, const float *a, int lda, int transpose_a, int8_t *q, float *steps) {
    const int m = p->m, k = p->k;
    if (!transpose_a) {
        for (int r = 0; r < m; r++) {
            const float *row = a + (size_t)r * lda;
            float inverse = p->a_inverse;
            if (steps) {
                steps[r] = row_step(largest(row, k));
                inverse = 1.0f / steps[r];
            }
            quantize(row, q + (size_t)r * k, inverse, NULL, k);
        }
        return 0;
    }
    /* Stored k x m: each stored row (one column of A) is quantized whole, then spread. The
     * buffer holds m inverses (by rows), then the quantized row: 5m bytes of its 4 * 2m. */
    float *inverses = (float *)column_buffer((size_t)m * 2);
    if (!inverses) return -1;
    int8_t *row = (int8_t *)(inverses + m);
    if (steps) {
        for (int r = 0; r < m; r++) steps[r] = 0;
        for (int s = 0; s < k; s++) {
            const float *x = a + (size_t)s * lda;
            for (int r = 0; r < m; r++) steps[r] = fmaxf(steps[r], fabsf(x[r]));
        }
        for (int r = 0; r < m; r++) {
            steps[r] = row_step(steps[r]);
            inverses[r] = 1.0f / steps[r];
        }
    }
    for (int s = 0; s < k; s++) {
        quantize(a + (size_t)s * lda, row, p->a_inverse, steps ? inverses : NULL, m);
        for (int r = 0; r < m; r++) q[(size_t)r * k + s] = row[r];
    }
    return 0;
}

int gd_product_run(const gd_product *p, const float *a, int lda, int transpose_a, float *c) {
    dnnl_engine_t e = engine();
    if (!thread_stream) {
        omp_set_num_threads(1);
        if (dnnl_stream_create(&thread_stream, e, dnnl_stream_default_flags) != dnnl_success) return -1;
    }
    const int m = p->m, k = p->k, terms = p->terms, kk = terms * k;
    size_t need = (size_t)m * (size_t)kk;
    if (thread_a_size < need) {
        free(thread_a);
        thread_a = malloc(need * sizeof(uint16_t));
        thread_a_size = thread_a ? need : 0;
        if (!thread_a) return -1;
    }
    if (thread_scratch_size < p->scratch_size) {
        free(thread_scratch);
        thread_scratch = malloc(p->scratch_size);
        thread_scratch_size = thread_scratch ? p->scratch_size : 0;
        if (!thread_scratch) return -1;
    }
    pthread_once(&convert_once, choose_convert);
    float *steps = NULL, *dst = c;
    if (by_rows(p)) {
        steps = grow_floats(&thread_row_steps, &thread_row_steps_size, (size_t)m);
        if (!steps) return -1;
        /* A product that adds to C writes into a buffer of its own, then adds row by row. */
        if (p->accumulate && !(dst = grow_floats(&thread_c, &thread_c_size, (size_t)m * (size_t)p->n))) return -1;
    }
    if (is_int8(p->precision)) {
        if (quantize_a(p, a, lda, transpose_a, (int8_t *)thread_a, steps) != 0) return -1;
    } else if (!transpose_a) {
        /* Row r of the product's A: [a_hi | a_hi | a_lo] (split, each k wide, to meet B's
         * [b_hi; b_lo; b_hi]) or a_hi alone (plain). */
        for (int r = 0; r < m; r++) {
            uint16_t *row = thread_a + (size_t)r * kk;
            convert(a + (size_t)r * lda, row, terms > 1 ? row + 2 * (size_t)k : NULL, k);
            if (terms > 1) memcpy(row + k, row, sizeof(uint16_t) * (size_t)k);
        }
    } else {
        /* A is stored k x m: convert each stored row (one q for every r), then spread it. */
        uint16_t *hi = column_buffer((size_t)m);
        if (!hi) return -1;
        uint16_t *lo = hi + m;
        for (int q = 0; q < k; q++) {
            convert(a + (size_t)q * lda, hi, terms > 1 ? lo : NULL, m);
            for (int r = 0; r < m; r++) {
                uint16_t *at = thread_a + (size_t)r * kk + q;
                at[0] = hi[r];
                if (terms > 1) { at[k] = hi[r]; at[2 * (size_t)k] = lo[r]; }
            }
        }
    }
    if (p->id >= thread_bound_count) {
        int count = p->id + 16;
        gd_bound *grown = realloc(thread_bound, sizeof(gd_bound) * (size_t)count);
        if (!grown) return -1;
        memset(grown + thread_bound_count, 0, sizeof(gd_bound) * (size_t)(count - thread_bound_count));
        thread_bound = grown;
        thread_bound_count = count;
    }
    gd_bound *b = &thread_bound[p->id];
    if (!b->src) {
        if (dnnl_memory_create(&b->weights, &p->weights, e, p->packed) != dnnl_success) return -1;
        if (dnnl_memory_create(&b->dst, &p->dst, e, dst) != dnnl_success) return -1;
        if (dnnl_memory_create(&b->scratch, &p->scratch, e, thread_scratch) != dnnl_success) return -1;
        if (dnnl_memory_create(&b->src, &p->src, e, thread_a) != dnnl_success) return -1;
    }
    if (dnnl_memory_set_data_handle(b->src, thread_a) != dnnl_success
        || dnnl_memory_set_data_handle(b->dst, dst) != dnnl_success
        || dnnl_memory_set_data_handle(b->scratch, thread_scratch) != dnnl_success) return -1;
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, b->src}, {DNNL_ARG_WEIGHTS, b->weights}, {DNNL_ARG_DST, b->dst}, {DNNL_ARG_SCRATCHPAD, b->scratch}};
    if (dnnl_primitive_execute(p->primitive, thread_stream, 4, args) != dnnl_success) return -1;
    if (dnnl_stream_wait(thread_stream) != dnnl_success) return -1;
    if (steps) {
        const int n = p->n, ldc = p->ldc;
        for (int r = 0; r < m; r++) {
            const float step = steps[r];
            float *to = c + (size_t)r * ldc;
            if (p->accumulate) {
                const float *from = dst + (size_t)r * n;
                for (int j = 0; j < n; j++) to[j] += step * from[j];
            } else {
                for (int j = 0; j < n; j++) to[j] *= step;
            }
        }
    }
    return 0;
}

void gd_product_destroy(gd_product *p) {
    if (!p) return;
    if (p->primitive) dnnl_primitive_destroy(p->primitive);
    free(p->packed);
    free(p);
}
