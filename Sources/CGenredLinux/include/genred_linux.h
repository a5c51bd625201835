#ifndef GENRED_LINUX_H
#define GENRED_LINUX_H

/* Linux calls Swift cannot reach through Glibc: variadic syscall() wrappers and headers
 * the Glibc module does not export. */

/* The calling thread's kernel id. */
long genred_gettid(void);

/* The f_type of the file system holding `path` (statfs), or -1 with errno set. */
long genred_fs_type(const char *path);

/* Lowers the calling thread to background priority: nice at least `nice`, idle I/O class.
 * Returns 0, or -1 with errno set when either call fails (the other still applies). */
int genred_background_thread(int nice);

#endif
