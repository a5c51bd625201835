#include "genred_taglib.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include <taglib/aifffile.h>
#include <taglib/fileref.h>
#include <taglib/flacfile.h>
#include <taglib/mpegfile.h>
#include <taglib/oggflacfile.h>
#include <taglib/opusfile.h>
#include <taglib/taglib.h>
#include <taglib/tpropertymap.h>
#include <taglib/vorbisfile.h>
#include <taglib/wavfile.h>

struct genred_taglib_file {
    TagLib::FileRef ref;
};

namespace {

TagLib::File *openAs(const char *path, genred_taglib_kind kind) {
    switch (kind) {
    case GENRED_TAGLIB_MPEG: return new TagLib::MPEG::File(path, false);
    case GENRED_TAGLIB_FLAC: return new TagLib::FLAC::File(path, false);
    case GENRED_TAGLIB_OGG_VORBIS: return new TagLib::Ogg::Vorbis::File(path, false);
    case GENRED_TAGLIB_OGG_OPUS: return new TagLib::Ogg::Opus::File(path, false);
    case GENRED_TAGLIB_OGG_FLAC: return new TagLib::Ogg::FLAC::File(path, false);
    case GENRED_TAGLIB_WAV: return new TagLib::RIFF::WAV::File(path, false);
    case GENRED_TAGLIB_AIFF: return new TagLib::RIFF::AIFF::File(path, false);
    case GENRED_TAGLIB_AUTO: break;
    }
    return nullptr;
}

char *copyString(const TagLib::String &s) {
    const std::string utf8 = s.to8Bit(true);
    char *copy = static_cast<char *>(std::malloc(utf8.size() + 1));
    if (copy) std::memcpy(copy, utf8.c_str(), utf8.size() + 1);
    return copy;
}

/* Converts a PropertyMap; false (with *out freed and empty) when memory runs out. */
bool export_map(const TagLib::PropertyMap &map, genred_taglib_properties *out) {
    out->items = nullptr;
    out->count = 0;
    if (map.isEmpty()) return true;
    out->items = static_cast<genred_taglib_property *>(std::calloc(map.size(), sizeof(genred_taglib_property)));
    if (!out->items) return false;
    bool ok = true;
    for (TagLib::PropertyMap::ConstIterator it = map.begin(); ok && it != map.end(); ++it) {
        genred_taglib_property &item = out->items[out->count++];
        item.key = copyString(it->first);
        ok = item.key != nullptr;
        const TagLib::StringList &values = it->second;
        if (!ok || values.isEmpty()) continue;
        item.values = static_cast<char **>(std::calloc(values.size(), sizeof(char *)));
        ok = item.values != nullptr;
        for (TagLib::StringList::ConstIterator v = values.begin(); ok && v != values.end(); ++v) {
            char *value = copyString(*v);
            ok = value != nullptr;
            if (ok) item.values[item.value_count++] = value;
        }
    }
    if (!ok) genred_taglib_properties_free(out);
    return ok;
}

/* Converts C properties; those with an empty key go to *refused, since no tag format can store them. */
TagLib::PropertyMap import_map(const genred_taglib_properties *in, TagLib::PropertyMap *refused) {
    TagLib::PropertyMap map;
    for (size_t i = 0; i < in->count; ++i) {
        const genred_taglib_property &item = in->items[i];
        TagLib::StringList values;
        for (size_t v = 0; v < item.value_count; ++v) {
            if (item.values && item.values[v]) values.append(TagLib::String(item.values[v], TagLib::String::UTF8));
        }
        const TagLib::String key = item.key ? TagLib::String(item.key, TagLib::String::UTF8) : TagLib::String();
        if (key.isEmpty())
            refused->insert(key, values);
        else
            map.insert(key, values);
    }
    return map;
}

} // namespace

extern "C" {

genred_taglib_version_info genred_taglib_version(void) {
    return {TAGLIB_MAJOR_VERSION, TAGLIB_MINOR_VERSION, TAGLIB_PATCH_VERSION};
}

genred_taglib_file *genred_taglib_open(const char *path, genred_taglib_kind kind) {
    if (!path) return nullptr;
    try {
        TagLib::FileRef ref;
        if (kind == GENRED_TAGLIB_AUTO) {
            ref = TagLib::FileRef(path, false);
        } else if (TagLib::File *typed = openAs(path, kind)) {
            ref = TagLib::FileRef(typed);  // takes ownership
        }
        if (ref.isNull() || !ref.file()->isValid()) return nullptr;
        return new genred_taglib_file{ref};
    } catch (...) {
        return nullptr;
    }
}

int genred_taglib_is_read_only(const genred_taglib_file *file) {
    return !file || file->ref.file()->readOnly();
}

genred_taglib_status genred_taglib_read(const genred_taglib_file *file, genred_taglib_properties *out) {
    if (!file || !out) return GENRED_TAGLIB_ERR_ARGUMENT;
    try {
        return export_map(file->ref.file()->properties(), out) ? GENRED_TAGLIB_OK : GENRED_TAGLIB_ERR_MEMORY;
    } catch (...) {
        return GENRED_TAGLIB_ERR_MEMORY;
    }
}

genred_taglib_status genred_taglib_write(genred_taglib_file *file, const genred_taglib_properties *properties,
                                         int replace_all, genred_taglib_properties *rejected) {
    if (rejected) {
        rejected->items = nullptr;
        rejected->count = 0;
    }
    if (!file || !properties || (properties->count && !properties->items)) return GENRED_TAGLIB_ERR_ARGUMENT;
    try {
        TagLib::PropertyMap refusedKeys;
        const TagLib::PropertyMap incoming = import_map(properties, &refusedKeys);
        TagLib::PropertyMap target;
        if (replace_all) {
            target = incoming;
        } else {
            target = file->ref.file()->properties();
            for (TagLib::PropertyMap::ConstIterator it = incoming.begin(); it != incoming.end(); ++it) {
                if (it->second.isEmpty())
                    target.erase(it->first);
                else
                    target.replace(it->first, it->second);
            }
        }
        TagLib::PropertyMap refused = file->ref.file()->setProperties(target);
        refused.merge(refusedKeys);
        if (rejected && !export_map(refused, rejected)) return GENRED_TAGLIB_ERR_MEMORY;
        return GENRED_TAGLIB_OK;
    } catch (...) {
        return GENRED_TAGLIB_ERR_MEMORY;
    }
}

genred_taglib_status genred_taglib_save(genred_taglib_file *file) {
    if (!file) return GENRED_TAGLIB_ERR_ARGUMENT;
    if (file->ref.file()->readOnly()) return GENRED_TAGLIB_ERR_READ_ONLY;
    try {
        return file->ref.save() ? GENRED_TAGLIB_OK : GENRED_TAGLIB_ERR_SAVE;
    } catch (...) {
        return GENRED_TAGLIB_ERR_SAVE;
    }
}

void genred_taglib_close(genred_taglib_file *file) {
    delete file;
}

void genred_taglib_properties_free(genred_taglib_properties *properties) {
    if (!properties) return;
    for (size_t i = 0; i < properties->count; ++i) {
        genred_taglib_property &item = properties->items[i];
        for (size_t v = 0; v < item.value_count; ++v) std::free(item.values[v]);
        std::free(item.values);
        std::free(item.key);
    }
    std::free(properties->items);
    properties->items = nullptr;
    properties->count = 0;
}

} // extern "C"
