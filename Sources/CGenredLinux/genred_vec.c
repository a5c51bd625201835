#include "genred_vec.h"

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
    __builtin_cpu_init();   /* idempotent; reads CPUID once */
    if (__builtin_cpu_supports("avx2")) dot_avx2(rows, count, stride, query, out);
    else genred_dot_s8_rows_generic(rows, count, stride, query, out);
}
#else
void genred_dot_s8_rows(const int8_t *rows, long count, int stride, const int8_t *query, int32_t *out) {
    genred_dot_s8_rows_generic(rows, count, stride, query, out);
}
#endif
