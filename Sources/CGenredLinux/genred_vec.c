#include "genred_vec.h"

/* No multiply-add contraction anywhere here: the plain and the vector paths round alike. */
#pragma STDC FP_CONTRACT OFF

/* (d1, i1) before (d2, i2): the smaller distance, then the smaller index. */
static inline int knn_less(float d1, int32_t i1, float d2, int32_t i2) {
    return d1 < d2 || (d1 == d2 && i1 < i2);
}

/* A max-heap on (distance, index): the pair that sorts last is at the top. */
static inline void knn_push(float *hd, int32_t *hi, int *size, float dist, int32_t index) {
    int c = (*size)++;
    while (c > 0) {
        int parent = (c - 1) / 2;
        if (!knn_less(hd[parent], hi[parent], dist, index)) break;
        hd[c] = hd[parent]; hi[c] = hi[parent]; c = parent;
    }
    hd[c] = dist; hi[c] = index;
}

static inline void knn_replace_top(float *hd, int32_t *hi, int size, float dist, int32_t index) {
    int c = 0;
    for (;;) {
        int l = 2 * c + 1;
        if (l >= size) break;
        int m = l, r = l + 1;
        if (r < size && knn_less(hd[l], hi[l], hd[r], hi[r])) m = r;
        if (!knn_less(dist, index, hd[m], hi[m])) break;
        hd[c] = hd[m]; hi[c] = hi[m]; c = m;
    }
    hd[c] = dist; hi[c] = index;
}

/* Offers one column to the heap. */
static inline void knn_offer(float dist, int32_t j, float *hd, int32_t *hi, int *size, int k) {
    if (*size < k) knn_push(hd, hi, size, dist, j);
    else if (knn_less(dist, j, hd[0], hi[0])) knn_replace_top(hd, hi, *size, dist, j);
}

/* The doubled product is a sum, not a multiple, so that no compiler fuses it into a
 * multiply-add: the plain and the AVX2 path round the same way. */
static inline float knn_distance(float norm, float column_norm, float product) {
    float d = (norm + column_norm) - (product + product);
    return d > 0 ? d : 0;
}

int genred_knn_scan_generic(const float *products, const float *norms, int count, int first, int self, float norm,
                            float *heap_distances, int32_t *heap_indices, int size, int k) {
    for (int c = 0; c < count; c++) {
        int32_t j = first + c;
        if (j == self) continue;
        knn_offer(knn_distance(norm, norms[c], products[c]), j, heap_distances, heap_indices, &size, k);
    }
    return size;
}

/* One pair's terms of the exact repulsion, in the order both paths use. */
static inline void tsne_pair(double xi, double yi, double xj, double yj, int same,
                             double *z, double *fx, double *fy) {
    double dx = xi - xj, dy = yi - yj;
    double q = 1.0 / ((1.0 + dx * dx) + dy * dy);
    if (same) q = 0;
    double q2 = q * q;
    *z += q; *fx += q2 * dx; *fy += q2 * dy;
}

/* Columns n4..n-1 (after the four lanes), then the lanes' sums folded in a fixed order. */
static inline void tsne_finish(const double *xs, const double *ys, int n, int n4, int i,
                               const double lz[4], const double lx[4], const double ly[4],
                               double *forces, double *z) {
    double tz = 0, tx = 0, ty = 0;
    for (int j = n4; j < n; j++) tsne_pair(xs[i], ys[i], xs[j], ys[j], j == i, &tz, &tx, &ty);
    z[i] = ((lz[0] + lz[1]) + (lz[2] + lz[3])) + tz;
    forces[2 * i] = ((lx[0] + lx[1]) + (lx[2] + lx[3])) + tx;
    forces[2 * i + 1] = ((ly[0] + ly[1]) + (ly[2] + ly[3])) + ty;
}

void genred_tsne_repulsion_generic(const double *xs, const double *ys, int n, int first, int last,
                                   double *forces, double *z) {
    int n4 = n & ~3;
    for (int i = first; i < last; i++) {
        double lz[4] = {0, 0, 0, 0}, lx[4] = {0, 0, 0, 0}, ly[4] = {0, 0, 0, 0};
        for (int j = 0; j < n4; j += 4)
            for (int l = 0; l < 4; l++) tsne_pair(xs[i], ys[i], xs[j + l], ys[j + l], j + l == i, &lz[l], &lx[l], &ly[l]);
        tsne_finish(xs, ys, n, n4, i, lz, lx, ly, forces, z);
    }
}

void genred_dot_s8_rows_generic(const int8_t *rows, long count, int stride, const int8_t *query, int32_t *out) {
    for (long i = 0; i < count; i++) {
        const int8_t *row = rows + i * (long)stride;
        int32_t sum = 0;
        for (int j = 0; j < stride; j++) sum += (int32_t)row[j] * (int32_t)query[j];
        out[i] = sum;
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

/* Whether the CPU has AVX2: every vector path below dispatches on it. */
static inline int has_avx2(void) {
    __builtin_cpu_init();   /* idempotent; reads CPUID once */
    return __builtin_cpu_supports("avx2");
}

/* Each 16 bytes of a row are widened to 16-bit lanes and multiplied with the query's
 * (widened once) by vpmaddwd, which adds neighbouring products into 32-bit lanes. */
__attribute__((target("avx2")))
static void dot_avx2(const int8_t *rows, long count, int stride, const int8_t *query, int32_t *out) {
    int blocks = stride / 16;
    __m256i q[blocks > 0 ? blocks : 1];
    for (int b = 0; b < blocks; b++) q[b] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(query + 16 * b)));
    for (long i = 0; i < count; i++) {
        const int8_t *row = rows + i * (long)stride;
        __m256i acc = _mm256_setzero_si256();
        for (int b = 0; b < blocks; b++) {
            __m256i r = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row + 16 * b)));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(r, q[b]));
        }
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
        out[i] = _mm_cvtsi128_si32(s);
    }
}

void genred_dot_s8_rows(const int8_t *rows, long count, int stride, const int8_t *query, int32_t *out) {
    if (has_avx2()) dot_avx2(rows, count, stride, query, out);
    else genred_dot_s8_rows_generic(rows, count, stride, query, out);
}

/* Eight columns at a time: only those not farther than the heap's top go to the scalar test. */
__attribute__((target("avx2")))
static int knn_scan_avx2(const float *products, const float *norms, int count, int first, int self, float norm,
                         float *hd, int32_t *hi, int size, int k) {
    int c = 0;
    for (; c < count && size < k; c++) {
        int32_t j = first + c;
        if (j != self) knn_offer(knn_distance(norm, norms[c], products[c]), j, hd, hi, &size, k);
    }
    const __m256 row = _mm256_set1_ps(norm), zero = _mm256_setzero_ps();
    float lane[8];
    for (; c + 8 <= count; c += 8) {
        __m256 g = _mm256_loadu_ps(products + c);
        __m256 d = _mm256_sub_ps(_mm256_add_ps(row, _mm256_loadu_ps(norms + c)), _mm256_add_ps(g, g));
        d = _mm256_max_ps(d, zero);
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(d, _mm256_set1_ps(hd[0]), _CMP_LE_OQ));
        if (!mask) continue;
        _mm256_storeu_ps(lane, d);
        while (mask) {
            int b = __builtin_ctz((unsigned)mask);
            mask &= mask - 1;
            int32_t j = first + c + b;
            if (j != self) knn_offer(lane[b], j, hd, hi, &size, k);
        }
    }
    for (; c < count; c++) {
        int32_t j = first + c;
        if (j != self) knn_offer(knn_distance(norm, norms[c], products[c]), j, hd, hi, &size, k);
    }
    return size;
}

int genred_knn_scan(const float *products, const float *norms, int count, int first, int self, float norm,
                    float *heap_distances, int32_t *heap_indices, int size, int k) {
    if (k > 0 && has_avx2())
        return knn_scan_avx2(products, norms, count, first, self, norm, heap_distances, heap_indices, size, k);
    return genred_knn_scan_generic(products, norms, count, first, self, norm, heap_distances, heap_indices, size, k);
}
/* Four columns at a time, lane l taking the columns j with j mod 4 = l, as the plain loop does. */
__attribute__((target("avx2")))
static void tsne_repulsion_avx2(const double *xs, const double *ys, int n, int first, int last,
                                double *forces, double *z) {
    const __m256d one = _mm256_set1_pd(1.0), four = _mm256_set1_pd(4.0);
    int n4 = n & ~3;
    for (int i = first; i < last; i++) {
        const __m256d xi = _mm256_set1_pd(xs[i]), yi = _mm256_set1_pd(ys[i]), self = _mm256_set1_pd((double)i);
        __m256d column = _mm256_setr_pd(0, 1, 2, 3);
        __m256d az = _mm256_setzero_pd(), ax = az, ay = az;
        for (int j = 0; j < n4; j += 4) {
            __m256d dx = _mm256_sub_pd(xi, _mm256_loadu_pd(xs + j));
            __m256d dy = _mm256_sub_pd(yi, _mm256_loadu_pd(ys + j));
            __m256d q = _mm256_div_pd(one, _mm256_add_pd(_mm256_add_pd(one, _mm256_mul_pd(dx, dx)), _mm256_mul_pd(dy, dy)));
            q = _mm256_andnot_pd(_mm256_cmp_pd(column, self, _CMP_EQ_OQ), q);
            column = _mm256_add_pd(column, four);
            __m256d q2 = _mm256_mul_pd(q, q);
            az = _mm256_add_pd(az, q);
            ax = _mm256_add_pd(ax, _mm256_mul_pd(q2, dx));
            ay = _mm256_add_pd(ay, _mm256_mul_pd(q2, dy));
        }
        double lz[4], lx[4], ly[4];
        _mm256_storeu_pd(lz, az); _mm256_storeu_pd(lx, ax); _mm256_storeu_pd(ly, ay);
        tsne_finish(xs, ys, n, n4, i, lz, lx, ly, forces, z);
    }
}

void genred_tsne_repulsion(const double *xs, const double *ys, int n, int first, int last, double *forces, double *z) {
    if (has_avx2()) tsne_repulsion_avx2(xs, ys, n, first, last, forces, z);
    else genred_tsne_repulsion_generic(xs, ys, n, first, last, forces, z);
}
#else
void genred_dot_s8_rows(const int8_t *rows, long count, int stride, const int8_t *query, int32_t *out) {
    genred_dot_s8_rows_generic(rows, count, stride, query, out);
}
int genred_knn_scan(const float *products, const float *norms, int count, int first, int self, float norm,
                    float *heap_distances, int32_t *heap_indices, int size, int k) {
    return genred_knn_scan_generic(products, norms, count, first, self, norm, heap_distances, heap_indices, size, k);
}
void genred_tsne_repulsion(const double *xs, const double *ys, int n, int first, int last, double *forces, double *z) {
    genred_tsne_repulsion_generic(xs, ys, n, first, last, forces, z);
}
#endif
