#define _GNU_SOURCE
#include "genred_linux.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

long genred_gettid(void) {
    return (long)syscall(SYS_gettid);
}

long genred_fs_type(const char *path) {
    struct statfs s;
    if (statfs(path, &s) != 0) return -1;
    return (long)s.f_type;
}

int genred_background_thread(int nice) {
    /* ioprio_set(IOPRIO_WHO_PROCESS, 0 = this thread, IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT) */
    const int who_process = 1, class_idle = 3, class_shift = 13;
    int status = 0;
    id_t tid = (id_t)syscall(SYS_gettid);
    int current = getpriority(PRIO_PROCESS, tid);
    if (current < nice && setpriority(PRIO_PROCESS, tid, nice) != 0) status = -1;
    if (syscall(SYS_ioprio_set, who_process, 0, class_idle << class_shift) != 0) status = -1;
    return status;
}
