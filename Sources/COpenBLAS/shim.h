#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
/* OpenBLAS's cblas.h also declares openblas_set_num_threads(), which the
   analyzer uses to keep BLAS single-threaded while it runs windows in parallel. */
#include <cblas.h>
#endif
