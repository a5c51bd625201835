#ifndef GENRED_CPU_H
#define GENRED_CPU_H

#include <stddef.h>

/* What the processor is and which vector instructions it can run, read with CPUID and
 * XGETBV, so that genred can check the BLAS kernels it was given against the hardware
 * (a BLAS that picks kernels by CPU model number falls back to generic ones on models it
 * does not know). On other architectures everything reads as zero. */

struct genred_cpu {
    char vendor[13];        /* "GenuineIntel", "AuthenticAMD", ... */
    char brand[49];         /* the brand string, leading spaces removed */
    unsigned family;        /* display family: base + extended */
    unsigned model;         /* display model: extended model folded in where the vendor does */
    unsigned stepping;
    /* Instruction sets the CPU reports; the AVX ones only where the OS also saves the
     * registers they use (XCR0), since otherwise they fault. */
    int sse3, ssse3, sse4_1, sse4_2;
    int avx, fma, avx2;
    int avx512f, avx512dq, avx512bw, avx512vl, avx512_bf16, avx512_fp16, avx512_vnni, avx_vnni;
    int amx_tile, amx_bf16, amx_int8;
};

/* Fills `cpu`. */
void genred_cpu_identify(struct genred_cpu *cpu);

/* Floating-point throughput loops for measuring the machine's FP32 peak. Each runs
 * `rounds` rounds of 12 independent chains (enough to cover the latency of two
 * pipelines) and returns the single-precision operations done (a fused multiply-add
 * counts two). They are written in assembly so that the measurement does not depend on
 * the compiler or on the optimisation level. Call only those the CPU supports:
 *   avx512: AVX-512F, 16 lanes, FMA
 *   fma256: AVX2 class (AVX + FMA), 8 lanes
 *   sse:    4 lanes, separate multiplies and adds */
double genred_flops_avx512(long rounds);
double genred_flops_fma256(long rounds);
double genred_flops_sse(long rounds);

/* The same for reduced precision, counting each product and each sum as one operation:
 *   bf16_avx512: AVX512-BF16 dot products (VDPBF16PS), 32 bf16 pairs per instruction
 *   int8_avx512: AVX512-VNNI dot products (VPDPBUSD), 64 u8 x s8 pairs per instruction
 *   int8_avx256: AVX-VNNI (VEX) dot products, 32 pairs per instruction */
double genred_ops_bf16_avx512(long rounds);
double genred_ops_int8_avx512(long rounds);
double genred_ops_int8_avx256(long rounds);

/* The AMX tile peak, in the same units: TDPBF16PS (bf16, 16 x 16 x 32 pairs per instruction)
 * or TDPBUSD (int8, 16 x 16 x 64), summed over `processes` child processes that each run the
 * loop for `seconds`. The loops run in children so that a fault (an OS that grants the tile
 * state but mishandles it, say) stops only them. 0 where the CPU or the OS offers no AMX for
 * it, or a child failed, with the reason in `why`. */
enum { GENRED_AMX_BF16 = 0, GENRED_AMX_INT8 = 1, GENRED_AMX_CRASH_FOR_TESTING = 99 };
double genred_amx_rate(int kind, int processes, double seconds, char *why, size_t why_size);

#endif
