#ifndef CInotifyTools_SHIM_H
#define CInotifyTools_SHIM_H
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

/* The name that follows an event header: NUL-padded to `len` bytes, empty when `len` is 0.
   Swift cannot reach a flexible array member. */
static inline const char *genred_inotify_event_name(const struct inotify_event *event) {
    return event->len > 0 ? event->name : "";
}
#endif
