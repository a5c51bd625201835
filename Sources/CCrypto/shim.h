#ifndef CCRYPTO_SHIM_H
#define CCRYPTO_SHIM_H
/* OpenSSL's digest interface: SHA-256 for file, audio and model-weight digests. libcrypto
   picks the CPU's SHA extensions (SHA-NI) or vector code at run time. */
#include <openssl/evp.h>
#endif
