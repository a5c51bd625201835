#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CTagLib
import GenredEngine

/// One file opened through the TagLib shim; closed on deinit. Used by one thread at a time.
final class TagLibFile {
    let path: String
    private var handle: OpaquePointer?

    /// Opens `path` as the kind the content says, never TagLib's guess from the extension.
    ///
    /// With `readOnly` the file is never opened for writing: reads then cause no `IN_CLOSE_WRITE`,
    /// which the daemon would otherwise take for a change and queue the file again.
    init(_ path: String, container: AudioContainer, readOnly: Bool) throws(TagError) {
        self.path = path
        let kind = try Self.kind(path, container)
        let opened = FilePath.withCString(path) { readOnly ? genred_taglib_open_read_only($0, kind) : genred_taglib_open($0, kind) }
        guard let handle = opened else {
            throw TagError(path: path, reason: .cannotOpen)
        }
        self.handle = handle
    }

    deinit { close() }

    func close() {
        genred_taglib_close(handle)
        handle = nil
    }

    var isReadOnly: Bool { genred_taglib_is_read_only(handle) != 0 }

    func tagInfo() throws(TagError) -> genred_taglib_tag_info {
        var info = genred_taglib_tag_info()
        try check(genred_taglib_get_tag_info(handle, &info), doing: "read the tag layout")
        return info
    }

    /// One tag's properties and unsupported items.
    func read(_ tag: genred_taglib_tag) throws(TagError) -> (properties: [String: [String]], unsupported: [String]) {
        var raw = genred_taglib_properties()
        defer { genred_taglib_properties_free(&raw) }
        try check(genred_taglib_read_tag(handle, tag, &raw), doing: "read the tags")
        let result = Self.properties(raw)
        let unsupported = (0..<raw.unsupported_count).compactMap { i in raw.unsupported[i].map { String(cString: $0) } }
        return (result, unsupported)
    }

    /// Everything `TagSnapshot` holds.
    func snapshot(separator: String) throws(TagError) -> TagSnapshot {
        let info = try tagInfo()
        let primary = try read(GENRED_TAGLIB_TAG_PRIMARY)
        var others: [String: [String: [String]]] = [:]
        let extra: [(Int32, genred_taglib_tag, String)] = [
            (info.has_id3v1, GENRED_TAGLIB_TAG_ID3V1, "ID3v1"),
            (info.has_ape, GENRED_TAGLIB_TAG_APE, "APE"),
            (info.has_riff_info, GENRED_TAGLIB_TAG_RIFF_INFO, "RIFF INFO"),
            (info.has_flac_id3v2, GENRED_TAGLIB_TAG_ID3V2, "ID3v2 in FLAC"),
        ]
        for (present, tag, name) in extra where present != 0 {
            others[name] = try read(tag).properties
        }
        return TagSnapshot(
            properties: primary.properties,
            id3v2Version: info.id3v2_version > 0 ? Int(info.id3v2_version) : nil,
            unsupported: primary.unsupported.sorted(),
            otherTags: others,
            id3v23Separator: separator)
    }

    /// Stages `fields` on the tag genred writes; returns the keys the format cannot store (then nothing is saved).
    func setFields(_ fields: [String: [String]], id3v2Version: Int) throws(TagError) -> [String] {
        let entries = Array(fields)
        let items = UnsafeMutablePointer<genred_taglib_property>.allocate(capacity: max(entries.count, 1))
        for (i, entry) in entries.enumerated() {
            let values = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: max(entry.value.count, 1))
            for (v, value) in entry.value.enumerated() { values[v] = strdup(value) }
            items[i] = genred_taglib_property(key: strdup(entry.key), values: values, value_count: entry.value.count)
        }
        defer {
            for i in entries.indices {
                for v in 0..<items[i].value_count { free(items[i].values[v]) }
                items[i].values.deallocate()
                free(items[i].key)
            }
            items.deallocate()
        }
        var list = genred_taglib_properties(items: items, count: entries.count, unsupported: nil, unsupported_count: 0)
        var rejected = genred_taglib_properties()
        defer { genred_taglib_properties_free(&rejected) }
        try check(genred_taglib_set_fields(handle, &list, Int32(id3v2Version), &rejected), doing: "stage the new tags")
        return Self.properties(rejected).keys.sorted()
    }

    func save(id3v2Version: Int) -> Bool {
        genred_taglib_save_primary(handle, Int32(id3v2Version)) == GENRED_TAGLIB_OK
    }

    private func check(_ status: genred_taglib_status, doing what: String) throws(TagError) {
        guard status == GENRED_TAGLIB_OK else {
            throw TagError(path: path, reason: .io("TagLib could not \(what) (status \(status.rawValue))"))
        }
    }

    private static func properties(_ raw: genred_taglib_properties) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for i in 0..<raw.count {
            let item = raw.items[i]
            guard let key = item.key.map({ String(cString: $0) }) else { continue }
            let values = (0..<item.value_count).compactMap { v in item.values[v].map { String(cString: $0) } }
            result[key, default: []].append(contentsOf: values)
        }
        return result
    }

    /// The shim's kind for a container; FLAC may be native or inside Ogg.
    private static func kind(_ path: String, _ container: AudioContainer) throws(TagError) -> genred_taglib_kind {
        switch container {
        case .mp3: return GENRED_TAGLIB_MPEG
        case .wav: return GENRED_TAGLIB_WAV
        case .aiff: return GENRED_TAGLIB_AIFF
        case .oggVorbis: return GENRED_TAGLIB_OGG_VORBIS
        case .opus: return GENRED_TAGLIB_OGG_OPUS
        case .flac:
            let fd = PathIO.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
            guard fd >= 0 else { throw TagError(path: path, reason: .io(FileOps.message("cannot open", errno))) }
            defer { FileOps.closeDescriptor(fd) }
            var magic = [UInt8](repeating: 0, count: 4)
            let n = magic.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4, 0) }
            return n == 4 && magic == Array("OggS".utf8) ? GENRED_TAGLIB_OGG_FLAC : GENRED_TAGLIB_FLAC
        }
    }
}
