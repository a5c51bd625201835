#ifndef GENRED_TAGLIB_H
#define GENRED_TAGLIB_H

/* A C face for TagLib's property interface: open, read, write, save, close.
 * All strings are UTF-8. Strings and arrays the shim hands out belong to the
 * shim until passed to genred_taglib_properties_free. */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct genred_taglib_file genred_taglib_file;

/* One property: a key (upper case by TagLib's convention) and its values. */
typedef struct {
    char *key;
    char **values;
    size_t value_count;
} genred_taglib_property;

typedef struct {
    genred_taglib_property *items;
    size_t count;
} genred_taglib_properties;

typedef struct {
    int major;
    int minor;
    int patch;
} genred_taglib_version_info;

typedef enum {
    GENRED_TAGLIB_OK = 0,
    GENRED_TAGLIB_ERR_ARGUMENT = -1,
    GENRED_TAGLIB_ERR_MEMORY = -2,
    GENRED_TAGLIB_ERR_READ_ONLY = -3,
    GENRED_TAGLIB_ERR_SAVE = -4
} genred_taglib_status;

/* The file type to open as; AUTO lets TagLib choose by extension, then by content. */
typedef enum {
    GENRED_TAGLIB_AUTO = 0,
    GENRED_TAGLIB_MPEG,
    GENRED_TAGLIB_FLAC,
    GENRED_TAGLIB_OGG_VORBIS,
    GENRED_TAGLIB_OGG_OPUS,
    GENRED_TAGLIB_OGG_FLAC,
    GENRED_TAGLIB_WAV,
    GENRED_TAGLIB_AIFF
} genred_taglib_kind;

/* TagLib's version at build time. */
genred_taglib_version_info genred_taglib_version(void);

/* Opens a file for tagging; NULL when TagLib cannot open it or does not find a valid file of that kind. */
genred_taglib_file *genred_taglib_open(const char *path, genred_taglib_kind kind);

/* Whether the file was opened read-only (saving will fail). */
int genred_taglib_is_read_only(const genred_taglib_file *file);

/* Fills *out with every property of the file's tags. */
genred_taglib_status genred_taglib_read(const genred_taglib_file *file, genred_taglib_properties *out);

/* Stages new properties in memory; genred_taglib_save writes them.
 * replace_all != 0: the file's properties become exactly `properties`.
 * replace_all == 0: each key in `properties` replaces that key; a key with no values removes it; other keys stay.
 * *rejected (when not NULL) receives the properties TagLib could not store. */
genred_taglib_status genred_taglib_write(genred_taglib_file *file, const genred_taglib_properties *properties,
                                         int replace_all, genred_taglib_properties *rejected);

genred_taglib_status genred_taglib_save(genred_taglib_file *file);

/* Closes the file without saving staged changes. Accepts NULL. */
void genred_taglib_close(genred_taglib_file *file);

/* Frees what genred_taglib_read or genred_taglib_write handed out and zeroes *properties. Accepts NULL. */
void genred_taglib_properties_free(genred_taglib_properties *properties);

#ifdef __cplusplus
}
#endif

#endif
