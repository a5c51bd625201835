#include "genred_cpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* AMX: one tile configuration, tiles 0-7 each 16 rows of 64 bytes. Accumulators 0-3, A in 4-5,
 * B in 6-7: four independent dot products per round, each 16 x 16 outputs over 64 bytes of
 * K (32 bf16 pairs, or 64 int8 values). */
struct genred_tile_config {
    unsigned char palette, start_row, reserved[14];
    unsigned short bytes_per_row[16];
    unsigned char rows[16];
} __attribute__((aligned(64)));

static unsigned char genred_tile_data[16 * 64] __attribute__((aligned(64)));

#define GENRED_AMX_LOOP(name, op, per) \
    static double name(long rounds) { \
        struct genred_tile_config config; \
        memset(&config, 0, sizeof config); \
        config.palette = 1; \
        for (int t = 0; t < 8; t++) { config.bytes_per_row[t] = 64; config.rows[t] = 16; } \
        long n = rounds, stride = 64; \
        __asm__ volatile( \
            "ldtilecfg (%[config])\n\t" \
            "tileloadd (%[data], %[stride], 1), %%tmm4\n\t" \
            "tileloadd (%[data], %[stride], 1), %%tmm5\n\t" \
            "tileloadd (%[data], %[stride], 1), %%tmm6\n\t" \
            "tileloadd (%[data], %[stride], 1), %%tmm7\n\t" \
            "tilezero %%tmm0\n\t" "tilezero %%tmm1\n\t" "tilezero %%tmm2\n\t" "tilezero %%tmm3\n\t" \
            "1:\n\t" \
            op " %%tmm6, %%tmm4, %%tmm0\n\t" op " %%tmm7, %%tmm4, %%tmm1\n\t" \
            op " %%tmm6, %%tmm5, %%tmm2\n\t" op " %%tmm7, %%tmm5, %%tmm3\n\t" \
            "dec %[n]\n\t" \
            "jnz 1b\n\t" \
            "tilerelease\n\t" \
            : [n] "+r"(n) \
            : [config] "r"(&config), [data] "r"(genred_tile_data), [stride] "r"(stride) \
            : "memory", "cc"); \
        return (double)rounds * 4 * (per); \
    }

GENRED_AMX_LOOP(genred_ops_bf16_amx, "tdpbf16ps", 16 * 16 * 32 * 2)
GENRED_AMX_LOOP(genred_ops_int8_amx, "tdpbusd", 16 * 16 * 64 * 2)

static double genred_seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* In the child: the loop's rate over `seconds` after a short warm-up, or a negative code. */
static double genred_amx_child(int kind, double seconds) {
    if (kind == GENRED_AMX_CRASH_FOR_TESTING) __builtin_trap();
    /* Linux 5.16 and later hand out the tile data state only on request. */
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) != 0) return -1;
    double (*loop)(long) = kind == GENRED_AMX_INT8 ? genred_ops_int8_amx : genred_ops_bf16_amx;
    const long rounds = 20000;
    double start = genred_seconds_now();
    while (genred_seconds_now() - start < 0.05) loop(rounds);
    double ops = 0;
    start = genred_seconds_now();
    double elapsed;
    do {
        ops += loop(rounds);
        elapsed = genred_seconds_now() - start;
    } while (elapsed < seconds);
    return ops / elapsed;
}

static void genred_say(char *out, size_t size, const char *text) {
    if (out && size) snprintf(out, size, "%s", text);
}

double genred_amx_rate(int kind, int processes, double seconds, char *why, size_t why_size) {
    struct genred_cpu cpu;
    genred_cpu_identify(&cpu);
    int has = kind == GENRED_AMX_INT8 ? cpu.amx_int8 : cpu.amx_bf16;
    if (kind != GENRED_AMX_CRASH_FOR_TESTING && !(cpu.amx_tile && has)) {
        genred_say(why, why_size, "the CPU has no AMX for it, or the OS does not save the tile state");
        return 0;
    }
    if (processes < 1) processes = 1;
    if (processes > 256) processes = 256;
    int fds[2];
    if (pipe(fds) != 0) { genred_say(why, why_size, "no pipe"); return 0; }
    pid_t children[256];
    int started = 0;
    for (; started < processes; started++) {
        pid_t pid = fork();
        if (pid < 0) break;
        if (pid == 0) {
            close(fds[0]);
            /* A fault here is reported by the parent; a core of the whole process says no more. */
            struct rlimit none = {0, 0};
            setrlimit(RLIMIT_CORE, &none);
            /* Nor does the runtime's crash handler, which this child inherits. */
            const int faults[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP};
            for (size_t f = 0; f < sizeof faults / sizeof faults[0]; f++) signal(faults[f], SIG_DFL);
            double rate = genred_amx_child(kind, seconds);
            ssize_t written = write(fds[1], &rate, sizeof rate);
            _exit(written == (ssize_t)sizeof rate ? 0 : 1);
        }
        children[started] = pid;
    }
    close(fds[1]);
    int signalled = 0, refused = 0, lost = started < processes;
    double total = 0;
    for (int i = 0; i < started; i++) {
        int status = 0;
        while (waitpid(children[i], &status, 0) < 0 && errno == EINTR) {}
        if (WIFSIGNALED(status)) signalled = WTERMSIG(status);
    }
    for (int i = 0; i < started; i++) {
        double rate = 0;
        if (read(fds[0], &rate, sizeof rate) != (ssize_t)sizeof rate) { lost = 1; break; }
        if (rate < 0) refused = 1; else total += rate;
    }
    close(fds[0]);
    char text[160];
    if (signalled) {
        snprintf(text, sizeof text, "the AMX loop was stopped by signal %d", signalled);
        genred_say(why, why_size, text);
        return 0;
    }
    if (refused) { genred_say(why, why_size, "the kernel refused the tile state (arch_prctl ARCH_REQ_XCOMP_PERM)"); return 0; }
    if (lost) { genred_say(why, why_size, "an AMX loop did not report"); return 0; }
    return total;
}

#else

void genred_cpu_identify(struct genred_cpu *cpu) { memset(cpu, 0, sizeof *cpu); }
double genred_amx_rate(int kind, int processes, double seconds, char *why, size_t why_size) {
    (void)kind; (void)processes; (void)seconds;
    if (why && why_size) snprintf(why, why_size, "%s", "not an x86 CPU");
    return 0;
}
double genred_flops_avx512(long rounds) { (void)rounds; return 0; }
double genred_flops_fma256(long rounds) { (void)rounds; return 0; }
double genred_flops_sse(long rounds) { (void)rounds; return 0; }
double genred_ops_bf16_avx512(long rounds) { (void)rounds; return 0; }
double genred_ops_int8_avx512(long rounds) { (void)rounds; return 0; }
double genred_ops_int8_avx256(long rounds) { (void)rounds; return 0; }

#endif
