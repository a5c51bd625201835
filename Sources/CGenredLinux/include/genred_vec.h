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

/* One row's part of an exact k-nearest-neighbour search. For the `count` columns j = first + c
 * (c < count), skipping j == self, the squared distance is
 *     max(0, (norm + norms[c]) - (products[c] + products[c]))
 * (norm: the row's squared norm; norms: the columns'; products: the row's inner products with
 * them), computed in this order in single precision. The k smallest (distance, index) pairs,
 * ties broken by the smaller index, are kept in a max-heap of `size` entries (heap_distances,
 * heap_indices; capacity k); returns the new size. AVX2 where the CPU has it, a plain loop
 * otherwise: both keep the same pairs. */
int genred_knn_scan(const float *products, const float *norms, int count, int first, int self, float norm,
                    float *heap_distances, int32_t *heap_indices, int size, int k);

/* The plain loop alone (tests compare the two). */
int genred_knn_scan_generic(const float *products, const float *norms, int count, int first, int self, float norm,
                            float *heap_distances, int32_t *heap_indices, int size, int k);

/* t-SNE's exact repulsion for the points first..last-1 of n (coordinates xs, ys): for each i,
 *     z[i] = sum over j != i of q_ij,  forces[2i], forces[2i+1] = sum over j != i of q_ij^2 (y_i - y_j),
 * with q_ij = 1 / ((1 + dx^2) + dy^2), in double. Each sum runs in four lanes (column j in lane
 * j mod 4, the columns past the last multiple of 4 apart), folded as ((l0 + l1) + (l2 + l3)) + rest,
 * so the AVX2 path and the plain loop give the same bits. */
void genred_tsne_repulsion(const double *xs, const double *ys, int n, int first, int last, double *forces, double *z);

/* The plain loop alone (tests compare the two). */
void genred_tsne_repulsion_generic(const double *xs, const double *ys, int n, int first, int last,
                                   double *forces, double *z);
#endif
