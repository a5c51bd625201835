#include "genred_cpu.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

void genred_cpu_identify(struct genred_cpu *cpu) {
    unsigned a, b, c, d;
    memset(cpu, 0, sizeof *cpu);
    unsigned max_leaf = __get_cpuid_max(0, 0);
    if (max_leaf == 0) return;

    __cpuid(0, a, b, c, d);
    memcpy(cpu->vendor, &b, 4);
    memcpy(cpu->vendor + 4, &d, 4);
    memcpy(cpu->vendor + 8, &c, 4);

    __cpuid(1, a, b, c, d);
    unsigned base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    cpu->stepping = a & 0xf;
    cpu->family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
    cpu->model = (base_family == 6 || base_family == 0xf) ? base_model + (((a >> 16) & 0xf) << 4) : base_model;
    cpu->sse3 = (c >> 0) & 1;
    cpu->ssse3 = (c >> 9) & 1;
    cpu->sse4_1 = (c >> 19) & 1;
    cpu->sse4_2 = (c >> 20) & 1;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;

    /* XCR0: bits 1-2 are the SSE and AVX state, 5-7 the AVX-512 opmask and upper
     * registers, 17-18 the AMX tile state. Without OSXSAVE there is no XGETBV. */
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    int os_avx = (xcr0 & 0x6) == 0x6;
    int os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
    int os_amx = (xcr0 & 0x60000) == 0x60000;
    cpu->avx = avx && os_avx;
    cpu->fma = fma && os_avx;

    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        cpu->avx2 = ((b >> 5) & 1) && os_avx;
        cpu->avx512f = ((b >> 16) & 1) && os_avx512;
        cpu->avx512dq = ((b >> 17) & 1) && os_avx512;
        cpu->avx512bw = ((b >> 30) & 1) && os_avx512;
        cpu->avx512vl = ((b >> 31) & 1) && os_avx512;
        cpu->avx512_fp16 = ((d >> 23) & 1) && os_avx512;
        cpu->avx512_vnni = ((c >> 11) & 1) && os_avx512;
        cpu->amx_bf16 = ((d >> 22) & 1) && os_amx;
        cpu->amx_tile = ((d >> 24) & 1) && os_amx;
        cpu->amx_int8 = ((d >> 25) & 1) && os_amx;
        unsigned subleaves = a;
        if (subleaves >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            cpu->avx512_bf16 = ((a >> 5) & 1) && os_avx512;
            cpu->avx_vnni = ((a >> 4) & 1) && os_avx;
        }
    }

    if (__get_cpuid_max(0x80000000, 0) >= 0x80000004) {
        unsigned words[12];
        for (unsigned i = 0; i < 3; i++) __cpuid(0x80000002 + i, words[4 * i], words[4 * i + 1], words[4 * i + 2], words[4 * i + 3]);
        char raw[49];
        memcpy(raw, words, 48);
        raw[48] = 0;
        const char *s = raw;
        while (*s == ' ') s++;
        strncpy(cpu->brand, s, sizeof cpu->brand - 1);
    }
}

/* Twelve independent accumulator chains on registers 0-11, operands in 12 and 13, all
 * zero (no denormals, no overflow; the units' timing does not depend on the values). */
#define GENRED_ZERO14(op, r) \
    op " %%" r "0, %%" r "0, %%" r "0\n\t" op " %%" r "1, %%" r "1, %%" r "1\n\t" \
    op " %%" r "2, %%" r "2, %%" r "2\n\t" op " %%" r "3, %%" r "3, %%" r "3\n\t" \
    op " %%" r "4, %%" r "4, %%" r "4\n\t" op " %%" r "5, %%" r "5, %%" r "5\n\t" \
    op " %%" r "6, %%" r "6, %%" r "6\n\t" op " %%" r "7, %%" r "7, %%" r "7\n\t" \
    op " %%" r "8, %%" r "8, %%" r "8\n\t" op " %%" r "9, %%" r "9, %%" r "9\n\t" \
    op " %%" r "10, %%" r "10, %%" r "10\n\t" op " %%" r "11, %%" r "11, %%" r "11\n\t" \
    op " %%" r "12, %%" r "12, %%" r "12\n\t" op " %%" r "13, %%" r "13, %%" r "13\n\t"

#define GENRED_CLOBBERS \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
    "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "cc"

#define GENRED_DOT12(op, r) \
    op " %%" r "12, %%" r "13, %%" r "0\n\t" op " %%" r "12, %%" r "13, %%" r "1\n\t" \
    op " %%" r "12, %%" r "13, %%" r "2\n\t" op " %%" r "12, %%" r "13, %%" r "3\n\t" \
    op " %%" r "12, %%" r "13, %%" r "4\n\t" op " %%" r "12, %%" r "13, %%" r "5\n\t" \
    op " %%" r "12, %%" r "13, %%" r "6\n\t" op " %%" r "12, %%" r "13, %%" r "7\n\t" \
    op " %%" r "12, %%" r "13, %%" r "8\n\t" op " %%" r "12, %%" r "13, %%" r "9\n\t" \
    op " %%" r "12, %%" r "13, %%" r "10\n\t" op " %%" r "12, %%" r "13, %%" r "11\n\t"

/* A loop function: `rounds` rounds of 12 chains of `op` on `reg` registers zeroed with `zero`;
 * returns the operations done, `per` per instruction. */
#define GENRED_CHAIN_LOOP(name, zero, op, reg, per) \
    double name(long rounds) { \
        if (rounds <= 0) return 0; \
        long n = rounds; \
        __asm__ volatile( \
            GENRED_ZERO14(zero, reg) \
            "1:\n\t" \
            GENRED_DOT12(op, reg) \
            "dec %[n]\n\t" \
            "jnz 1b\n\t" \
            "vzeroupper\n\t" \
            : [n] "+r"(n) : : GENRED_CLOBBERS); \
        return (double)rounds * 12 * (per); \
    }

GENRED_CHAIN_LOOP(genred_flops_avx512, "vpxord", "vfmadd231ps", "zmm", 16 * 2)
GENRED_CHAIN_LOOP(genred_flops_fma256, "vxorps", "vfmadd231ps", "ymm", 8 * 2)
GENRED_CHAIN_LOOP(genred_ops_bf16_avx512, "vpxord", "vdpbf16ps", "zmm", 32 * 2)
GENRED_CHAIN_LOOP(genred_ops_int8_avx512, "vpxord", "vpdpbusd", "zmm", 64 * 2)
GENRED_CHAIN_LOOP(genred_ops_int8_avx256, "vpxor", "%{vex%} vpdpbusd", "ymm", 32 * 2)

double genred_flops_sse(long rounds) {
    if (rounds <= 0) return 0;
    long n = rounds;
    /* Six multiply chains and six add chains: CPUs without FMA have one unit of each. */
    __asm__ volatile(
        "xorps %%xmm0, %%xmm0\n\t" "xorps %%xmm1, %%xmm1\n\t" "xorps %%xmm2, %%xmm2\n\t"
        "xorps %%xmm3, %%xmm3\n\t" "xorps %%xmm4, %%xmm4\n\t" "xorps %%xmm5, %%xmm5\n\t"
        "xorps %%xmm6, %%xmm6\n\t" "xorps %%xmm7, %%xmm7\n\t" "xorps %%xmm8, %%xmm8\n\t"
        "xorps %%xmm9, %%xmm9\n\t" "xorps %%xmm10, %%xmm10\n\t" "xorps %%xmm11, %%xmm11\n\t"
        "xorps %%xmm12, %%xmm12\n\t" "xorps %%xmm13, %%xmm13\n\t"
        "1:\n\t"
        "mulps %%xmm12, %%xmm0\n\t" "addps %%xmm13, %%xmm6\n\t"
        "mulps %%xmm12, %%xmm1\n\t" "addps %%xmm13, %%xmm7\n\t"
        "mulps %%xmm12, %%xmm2\n\t" "addps %%xmm13, %%xmm8\n\t"
        "mulps %%xmm12, %%xmm3\n\t" "addps %%xmm13, %%xmm9\n\t"
        "mulps %%xmm12, %%xmm4\n\t" "addps %%xmm13, %%xmm10\n\t"
        "mulps %%xmm12, %%xmm5\n\t" "addps %%xmm13, %%xmm11\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        : [n] "+r"(n) : : GENRED_CLOBBERS);
    return (double)rounds * 12 * 4;
}

#else

void genred_cpu_identify(struct genred_cpu *cpu) { memset(cpu, 0, sizeof *cpu); }
double genred_flops_avx512(long rounds) { (void)rounds; return 0; }
double genred_flops_fma256(long rounds) { (void)rounds; return 0; }
double genred_flops_sse(long rounds) { (void)rounds; return 0; }
double genred_ops_bf16_avx512(long rounds) { (void)rounds; return 0; }
double genred_ops_int8_avx512(long rounds) { (void)rounds; return 0; }
double genred_ops_int8_avx256(long rounds) { (void)rounds; return 0; }

#endif
