#ifndef CLIBPQ_SHIM_H
#define CLIBPQ_SHIM_H
/* PostgreSQL's client library: connections, parameterised statements and LISTEN/NOTIFY for the
   store's PostgreSQL engine. */
#include <libpq-fe.h>
#endif
