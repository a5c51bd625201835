#ifndef GENRED_VEC_H
#define GENRED_VEC_H

#include <stdint.h>

/* Dot products of a query with every row of an int8 matrix, for the first pass of a
 * similarity search over a large collection: out[i] = sum_j rows[i * stride + j] * query[j]
 * for j < stride, in exact integer arithmetic (no overflow for stride up to 65,536).
 * `stride` must be a multiple of 16; pad rows and query with zeros. AVX2 where the CPU
 * has it, a plain loop otherwise; both give the same sums. */
void genred_dot_s8_rows(const int8_t *rows, long count, int stride, const int8_t *query, int32_t *out);

/* The plain loop alone (tests compare the two). */
void genred_dot_s8_rows_generic(const int8_t *rows, long count, int stride, const int8_t *query, int32_t *out);

#endif
