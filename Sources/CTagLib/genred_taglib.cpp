#include "genred_taglib.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include <taglib/aifffile.h>
#include <taglib/fileref.h>
#include <taglib/apetag.h>
#include <taglib/flacfile.h>
#include <taglib/id3v1tag.h>
#include <taglib/id3v2framefactory.h>
#include <taglib/id3v2tag.h>
#include <taglib/infotag.h>
#include <taglib/mpegfile.h>
#include <taglib/oggflacfile.h>
#include <taglib/opusfile.h>
#include <taglib/taglib.h>
#include <taglib/textidentificationframe.h>
#include <taglib/tfilestream.h>
#include <taglib/tpropertymap.h>
#include <taglib/xiphcomment.h>
#include <taglib/vorbisfile.h>
#include <taglib/wavfile.h>

struct genred_taglib_file {
    /* Declared first so that it is destroyed after the file that reads through it. */
    std::unique_ptr<TagLib::IOStream> stream;
    TagLib::FileRef ref;
};

namespace {

/* The file read through `stream`, which must outlive it. */
TagLib::File *openAs(TagLib::IOStream *stream, genred_taglib_kind kind) {
    TagLib::ID3v2::FrameFactory *frames = TagLib::ID3v2::FrameFactory::instance();
    switch (kind) {
    case GENRED_TAGLIB_MPEG: return new TagLib::MPEG::File(stream, frames, false);
    case GENRED_TAGLIB_FLAC: return new TagLib::FLAC::File(stream, frames, false);
    case GENRED_TAGLIB_OGG_VORBIS: return new TagLib::Ogg::Vorbis::File(stream, false);
    case GENRED_TAGLIB_OGG_OPUS: return new TagLib::Ogg::Opus::File(stream, false);
    case GENRED_TAGLIB_OGG_FLAC: return new TagLib::Ogg::FLAC::File(stream, false);
    case GENRED_TAGLIB_WAV: return new TagLib::RIFF::WAV::File(stream, false);
    case GENRED_TAGLIB_AIFF: return new TagLib::RIFF::AIFF::File(stream, false);
    case GENRED_TAGLIB_AUTO: break;
    }
    return nullptr;
}

/* A file of a known kind read through a stream of its own; NULL when it does not open as one.
   A stream opened for writing falls back to read-only when the file cannot be written, as
   TagLib's own path constructors do. */
genred_taglib_file *openTyped(const char *path, genred_taglib_kind kind, bool readOnly) {
    std::unique_ptr<TagLib::IOStream> stream(new TagLib::FileStream(path, readOnly));
    if (!stream->isOpen()) return nullptr;
    TagLib::File *typed = openAs(stream.get(), kind);
    if (!typed) return nullptr;
    TagLib::FileRef ref(typed);  // takes ownership
    if (!typed->isValid()) return nullptr;
    genred_taglib_file *file = new genred_taglib_file{};
    file->stream = std::move(stream);
    file->ref = ref;
    return file;
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
    out->unsupported = nullptr;
    out->unsupported_count = 0;
    const TagLib::StringList &unsupported = map.unsupportedData();
    if (!unsupported.isEmpty()) {
        out->unsupported = static_cast<char **>(std::calloc(unsupported.size(), sizeof(char *)));
        if (!out->unsupported) return false;
        for (TagLib::StringList::ConstIterator it = unsupported.begin(); it != unsupported.end(); ++it) {
            char *name = copyString(*it);
            if (!name) {
                genred_taglib_properties_free(out);
                return false;
            }
            out->unsupported[out->unsupported_count++] = name;
        }
    }
    if (map.isEmpty()) return true;
    out->items = static_cast<genred_taglib_property *>(std::calloc(map.size(), sizeof(genred_taglib_property)));
    if (!out->items) {
        genred_taglib_properties_free(out);
        return false;
    }
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

/* The ID3v2 tag genred writes for MPEG, WAV and AIFF files; NULL for other kinds. */
TagLib::ID3v2::Tag *id3v2Primary(TagLib::File *file, bool create) {
    if (auto *mpeg = dynamic_cast<TagLib::MPEG::File *>(file)) return mpeg->ID3v2Tag(create);
    if (auto *wav = dynamic_cast<TagLib::RIFF::WAV::File *>(file)) return wav->ID3v2Tag();
    if (auto *aiff = dynamic_cast<TagLib::RIFF::AIFF::File *>(file)) return aiff->tag();
    return nullptr;
}

/* The Xiph comment genred writes for FLAC and Ogg files; NULL for other kinds. */
TagLib::Ogg::XiphComment *xiphPrimary(TagLib::File *file, bool create) {
    if (auto *flac = dynamic_cast<TagLib::FLAC::File *>(file)) return flac->xiphComment(create);
    if (auto *vorbis = dynamic_cast<TagLib::Ogg::Vorbis::File *>(file)) return vorbis->tag();
    if (auto *opus = dynamic_cast<TagLib::Ogg::Opus::File *>(file)) return opus->tag();
    if (auto *oggFlac = dynamic_cast<TagLib::Ogg::FLAC::File *>(file)) return oggFlac->tag();
    return nullptr;
}

/* Removes every text frame that shows `key` among its properties, then adds one frame holding all `values`. */
void setID3v2Field(TagLib::ID3v2::Tag *tag, const TagLib::String &key, const TagLib::StringList &values, int version) {
    // Collect first, then remove. The frame pointers go into a std::vector, not a copy of TagLib's list:
    // a TagLib List copy shares the tag's storage, and once the tag's list detaches on the next edit the
    // copy becomes the last owner of the old storage and deletes every frame when it goes away.
    std::vector<TagLib::ID3v2::Frame *> doomed;
    const TagLib::ID3v2::FrameList &frames = tag->frameList();
    for (TagLib::ID3v2::FrameList::ConstIterator it = frames.begin(); it != frames.end(); ++it) {
        // Only text frames (T*** and TXXX) hold the keys genred writes; asProperties is public on them.
        // It is not virtual: a TXXX frame must be asked as itself, or it names no key and a field
        // such as STYLE (or MOOD under ID3v2.3) would never be removed.
        if (const auto *user = dynamic_cast<const TagLib::ID3v2::UserTextIdentificationFrame *>(*it)) {
            if (user->asProperties().contains(key)) doomed.push_back(*it);
        } else if (const auto *text = dynamic_cast<const TagLib::ID3v2::TextIdentificationFrame *>(*it)) {
            if (text->asProperties().contains(key)) doomed.push_back(*it);
        }
    }
    for (TagLib::ID3v2::Frame *frame : doomed) tag->removeFrame(frame);
    if (values.isEmpty()) return;
    if (version == 3 && key == "MOOD") {
        auto *frame = new TagLib::ID3v2::UserTextIdentificationFrame(TagLib::String::Latin1);
        frame->setDescription("MOOD");
        frame->setText(values);
        tag->addFrame(frame);
    } else {
        tag->addFrame(TagLib::ID3v2::Frame::createTextualFrame(key, values));
    }
}

void setXiphField(TagLib::Ogg::XiphComment *tag, const TagLib::String &key, const TagLib::StringList &values) {
    tag->removeFields(key);
    for (TagLib::StringList::ConstIterator it = values.begin(); it != values.end(); ++it) tag->addField(key, *it, false);
}

} // namespace

extern "C" {

genred_taglib_version_info genred_taglib_version(void) {
    return {TAGLIB_MAJOR_VERSION, TAGLIB_MINOR_VERSION, TAGLIB_PATCH_VERSION};
}

genred_taglib_file *genred_taglib_open(const char *path, genred_taglib_kind kind) {
    if (!path) return nullptr;
    try {
        if (kind != GENRED_TAGLIB_AUTO) return openTyped(path, kind, false);
        TagLib::FileRef ref(path, false);
        if (ref.isNull() || !ref.file()->isValid()) return nullptr;
        genred_taglib_file *file = new genred_taglib_file{};
        file->ref = ref;
        return file;
    } catch (...) {
        return nullptr;
    }
}

genred_taglib_file *genred_taglib_open_read_only(const char *path, genred_taglib_kind kind) {
    if (!path || kind == GENRED_TAGLIB_AUTO) return nullptr;
    try {
        return openTyped(path, kind, true);
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
    if (rejected) *rejected = genred_taglib_properties{};
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

genred_taglib_status genred_taglib_get_tag_info(const genred_taglib_file *file, genred_taglib_tag_info *out) {
    if (!file || !out) return GENRED_TAGLIB_ERR_ARGUMENT;
    *out = genred_taglib_tag_info{};
    try {
        TagLib::File *f = file->ref.file();
        const TagLib::ID3v2::Tag *id3v2 = nullptr;
        if (auto *mpeg = dynamic_cast<TagLib::MPEG::File *>(f)) {
            if (mpeg->hasID3v2Tag()) id3v2 = mpeg->ID3v2Tag();
            out->has_primary = mpeg->hasID3v2Tag();
            out->has_id3v1 = mpeg->hasID3v1Tag();
            out->has_ape = mpeg->hasAPETag();
        } else if (auto *wav = dynamic_cast<TagLib::RIFF::WAV::File *>(f)) {
            if (wav->hasID3v2Tag()) id3v2 = wav->ID3v2Tag();
            out->has_primary = wav->hasID3v2Tag();
            out->has_riff_info = wav->hasInfoTag();
        } else if (auto *aiff = dynamic_cast<TagLib::RIFF::AIFF::File *>(f)) {
            if (aiff->hasID3v2Tag()) id3v2 = aiff->tag();
            out->has_primary = aiff->hasID3v2Tag();
        } else if (auto *flac = dynamic_cast<TagLib::FLAC::File *>(f)) {
            out->has_primary = flac->hasXiphComment();
            out->has_id3v1 = flac->hasID3v1Tag();
            out->has_flac_id3v2 = flac->hasID3v2Tag();
        } else {
            out->has_primary = xiphPrimary(f, false) != nullptr;
        }
        if (id3v2) out->id3v2_version = static_cast<int>(id3v2->header()->majorVersion());
        return GENRED_TAGLIB_OK;
    } catch (...) {
        return GENRED_TAGLIB_ERR_MEMORY;
    }
}

genred_taglib_status genred_taglib_read_tag(const genred_taglib_file *file, genred_taglib_tag tag,
                                            genred_taglib_properties *out) {
    if (!file || !out) return GENRED_TAGLIB_ERR_ARGUMENT;
    try {
        TagLib::File *f = file->ref.file();
        TagLib::PropertyMap map;
        auto *mpeg = dynamic_cast<TagLib::MPEG::File *>(f);
        auto *flac = dynamic_cast<TagLib::FLAC::File *>(f);
        auto *wav = dynamic_cast<TagLib::RIFF::WAV::File *>(f);
        switch (tag) {
        case GENRED_TAGLIB_TAG_PRIMARY:
            if (TagLib::ID3v2::Tag *id3v2 = id3v2Primary(f, false))
                map = id3v2->properties();
            else if (TagLib::Ogg::XiphComment *xiph = xiphPrimary(f, false))
                map = xiph->properties();
            break;
        case GENRED_TAGLIB_TAG_ID3V1:
            if (mpeg && mpeg->hasID3v1Tag()) map = mpeg->ID3v1Tag()->properties();
            if (flac && flac->hasID3v1Tag()) map = flac->ID3v1Tag()->properties();
            break;
        case GENRED_TAGLIB_TAG_APE:
            if (mpeg && mpeg->hasAPETag()) map = mpeg->APETag()->properties();
            break;
        case GENRED_TAGLIB_TAG_RIFF_INFO:
            if (wav && wav->hasInfoTag()) map = wav->InfoTag()->properties();
            break;
        case GENRED_TAGLIB_TAG_ID3V2:
            if (flac && flac->hasID3v2Tag()) map = flac->ID3v2Tag()->properties();
            break;
        }
        return export_map(map, out) ? GENRED_TAGLIB_OK : GENRED_TAGLIB_ERR_MEMORY;
    } catch (...) {
        return GENRED_TAGLIB_ERR_MEMORY;
    }
}

genred_taglib_status genred_taglib_set_fields(genred_taglib_file *file, const genred_taglib_properties *properties,
                                              int id3v2_version, genred_taglib_properties *rejected) {
    if (rejected) *rejected = genred_taglib_properties{};
    if (!file || !properties || (properties->count && !properties->items)) return GENRED_TAGLIB_ERR_ARGUMENT;
    try {
        TagLib::PropertyMap refused;
        const TagLib::PropertyMap incoming = import_map(properties, &refused);
        TagLib::File *f = file->ref.file();
        TagLib::ID3v2::Tag *id3v2 = id3v2Primary(f, true);
        TagLib::Ogg::XiphComment *xiph = id3v2 ? nullptr : xiphPrimary(f, true);
        for (TagLib::PropertyMap::ConstIterator it = incoming.begin(); it != incoming.end(); ++it) {
            if (id3v2) {
                setID3v2Field(id3v2, it->first, it->second, id3v2_version);
            } else if (xiph && TagLib::Ogg::XiphComment::checkKey(it->first)) {
                setXiphField(xiph, it->first, it->second);
            } else {
                refused.insert(it->first, it->second);
            }
        }
        if (rejected && !export_map(refused, rejected)) return GENRED_TAGLIB_ERR_MEMORY;
        return GENRED_TAGLIB_OK;
    } catch (...) {
        return GENRED_TAGLIB_ERR_MEMORY;
    }
}

genred_taglib_status genred_taglib_save_primary(genred_taglib_file *file, int id3v2_version) {
    if (!file) return GENRED_TAGLIB_ERR_ARGUMENT;
    TagLib::File *f = file->ref.file();
    if (f->readOnly()) return GENRED_TAGLIB_ERR_READ_ONLY;
    const TagLib::ID3v2::Version version = id3v2_version == 3 ? TagLib::ID3v2::v3 : TagLib::ID3v2::v4;
    try {
        bool ok;
        if (auto *mpeg = dynamic_cast<TagLib::MPEG::File *>(f))
            ok = mpeg->save(TagLib::MPEG::File::ID3v2, TagLib::File::StripNone, version, TagLib::File::DoNotDuplicate);
        else if (auto *wav = dynamic_cast<TagLib::RIFF::WAV::File *>(f))
            ok = wav->save(TagLib::RIFF::WAV::File::ID3v2, TagLib::File::StripNone, version);
        else if (auto *aiff = dynamic_cast<TagLib::RIFF::AIFF::File *>(f))
            ok = aiff->save(version);
        else
            ok = f->save();  // FLAC and Ogg: only the Xiph comment changed
        return ok ? GENRED_TAGLIB_OK : GENRED_TAGLIB_ERR_SAVE;
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
    for (size_t i = 0; i < properties->unsupported_count; ++i) std::free(properties->unsupported[i]);
    std::free(properties->unsupported);
    properties->unsupported = nullptr;
    properties->unsupported_count = 0;
    std::free(properties->items);
    properties->items = nullptr;
    properties->count = 0;
}

} // extern "C"
