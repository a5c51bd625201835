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
    /* What the property interface cannot show (pictures, private frames, unknown frames), one entry per
     * item, by TagLib's name for it (e.g. "APIC", "UNKNOWN/XXXX"). Filled by the read functions only. */
    char **unsupported;
    size_t unsupported_count;
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

/* Opens a file of a known kind for reading only: the file is never opened for writing, so no
 * IN_CLOSE_WRITE event follows and a read-only file is read like any other. */
genred_taglib_file *genred_taglib_open_read_only(const char *path, genred_taglib_kind kind);

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

/* The tags of a file, apart from the one genred writes (the primary tag: ID3v2 for MPEG, WAV and AIFF; the
 * Xiph comment for FLAC, Ogg Vorbis, Opus and Ogg FLAC). */
typedef enum {
    GENRED_TAGLIB_TAG_PRIMARY = 0,
    GENRED_TAGLIB_TAG_ID3V1,      /* MPEG, FLAC */
    GENRED_TAGLIB_TAG_APE,        /* MPEG */
    GENRED_TAGLIB_TAG_RIFF_INFO,  /* WAV */
    GENRED_TAGLIB_TAG_ID3V2       /* FLAC (non-standard, but it occurs) */
} genred_taglib_tag;

/* Which tags the file had on disk when opened. */
typedef struct {
    /* 2, 3 or 4 for MPEG, WAV and AIFF files with an ID3v2 tag on disk; 0 otherwise. */
    int id3v2_version;
    int has_primary;
    int has_id3v1;
    int has_ape;
    int has_riff_info;
    int has_flac_id3v2;
} genred_taglib_tag_info;

genred_taglib_status genred_taglib_get_tag_info(const genred_taglib_file *file, genred_taglib_tag_info *out);

/* Fills *out with the properties (and unsupported items) of one tag; empty when the file has no such tag. */
genred_taglib_status genred_taglib_read_tag(const genred_taglib_file *file, genred_taglib_tag tag,
                                            genred_taglib_properties *out);

/* Stages new values for some text keys (such as GENRE and MOOD; not COMMENT or LYRICS, which ID3v2 keeps in
 * other frame types) of the primary tag only: each key's text frames or comments are removed and,
 * when it has values, replaced by one multi-valued frame (ID3v2) or one comment per value (Xiph).
 * Every other frame, comment and tag stays as it was read. id3v2_version 3 stores MOOD in a TXXX:MOOD
 * frame, since ID3v2.3 has no TMOO and TagLib drops TMOO frames when writing v2.3.
 * *rejected (when not NULL) receives the keys the tag cannot store; nothing is staged for them. */
genred_taglib_status genred_taglib_set_fields(genred_taglib_file *file, const genred_taglib_properties *properties,
                                              int id3v2_version, genred_taglib_properties *rejected);

/* Saves only the primary tag, leaving any other tag as it is on disk (none stripped, none created).
 * ID3v2 tags are written in id3v2_version (3 or 4). */
genred_taglib_status genred_taglib_save_primary(genred_taglib_file *file, int id3v2_version);

/* Closes the file without saving staged changes. Accepts NULL. */
void genred_taglib_close(genred_taglib_file *file);

/* Frees what genred_taglib_read or genred_taglib_write handed out and zeroes *properties. Accepts NULL. */
void genred_taglib_properties_free(genred_taglib_properties *properties);

#ifdef __cplusplus
}
#endif

#endif
