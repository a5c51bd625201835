#ifndef CInotifyTools_SHIM_H
#define CInotifyTools_SHIM_H
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>
#endif
