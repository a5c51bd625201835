import Foundation
import GenredTestSupport

/// Reads tags with mutagen (python3), a reader independent of TagLib, and edits test files with it.
enum TagInspector {
    /// One ID3v2 frame: mutagen's key (e.g. "TXXX:MyField"), frame id, text values if any, and its body bytes (hex).
    struct Frame: Codable, Equatable {
        var key: String
        var id: String
        var text: [String]?
        var body: String
    }

    struct Picture: Codable, Equatable {
        var type: Int
        var mime: String
        var data: String
    }

    /// What mutagen sees in a file.
    struct Report: Codable {
        var kind: String
        /// "2.3" or "2.4" when the file has an ID3v2 tag.
        var id3: String?
        var frames: [Frame]
        /// Vorbis comments in file order, as [key, value].
        var comments: [[String]]
        var pictures: [Picture]
        /// RIFF/AIFF chunk ids in file order, with the hex of LIST chunks.
        var chunks: [[String]]
        /// The last 128 bytes when they are an ID3v1 tag (hex).
        var id3v1: String?

        func frames(_ id: String) -> [Frame] { frames.filter { $0.id == id } }
        func text(_ key: String) -> [String]? { frames.first { $0.key == key }?.text }
        func comments(_ key: String) -> [String] {
            comments.filter { $0[0].uppercased() == key.uppercased() }.map { $0[1] }
        }
    }

    static let python = "/usr/bin/python3"

    static let reader = #"""
import json, sys, struct
import mutagen
from mutagen.id3 import ID3
from mutagen.flac import FLAC
path = sys.argv[1]
out = {"kind": "", "id3": None, "frames": [], "comments": [], "pictures": [], "chunks": [], "id3v1": None}
def dump_id3(tags):
    if tags is None: return
    out["id3"] = "2.%d" % tags.version[1]
    for key in sorted(tags.keys()):
        f = tags[key]
        text = [str(t) for t in f.text] if hasattr(f, "text") and isinstance(f.text, list) else None
        out["frames"].append({"key": key, "id": f.FrameID, "text": text, "body": f._writeData().hex()})
f = mutagen.File(path)
out["kind"] = type(f).__name__ if f is not None else "unknown"
data = open(path, "rb").read()
if len(data) >= 128 and data[-128:-125] == b"TAG": out["id3v1"] = data[-128:].hex()
if out["kind"] in ("MP3", "unknown") and data[:3] == b"ID3":
    dump_id3(ID3(path, translate=False))
elif out["kind"] in ("WAVE", "AIFF"):
    dump_id3(f.tags)
    big = data[:4] == b"FORM"
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos:pos+4]
        size = struct.unpack(">I" if big else "<I", data[pos+4:pos+8])[0]
        body = data[pos+8:pos+8+size]
        out["chunks"].append([cid.decode("latin-1"), body.hex() if cid == b"LIST" else ""])
        pos += 8 + size + (size & 1)
elif out["kind"] in ("FLAC", "OggVorbis", "OggOpus", "OggFLAC") and f.tags is not None:
    out["comments"] = [[k, v] for k, v in f.tags]
    if isinstance(f, FLAC):
        out["pictures"] = [{"type": p.type, "mime": p.mime, "data": p.data.hex()} for p in f.pictures]
print(json.dumps(out))
"""#

    static func read(_ url: URL) throws -> Report {
        let output = try run(["-c", reader, url.path])
        return try JSONDecoder().decode(Report.self, from: output)
    }

    /// Runs python `code` with mutagen imported and `path` bound to the file.
    static func edit(_ url: URL, _ code: String) throws {
        let prelude = "import sys, mutagen\nfrom mutagen.id3 import ID3, TIT2, TPE1, TXXX, TCON, TMOO, COMM, APIC, PRIV\nfrom mutagen.flac import FLAC, Picture\npath = sys.argv[1]\n"
        _ = try run(["-c", prelude + code, url.path])
    }

    private static func run(_ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestAudio.Failure(description: "mutagen helper failed (install python3-mutagen): "
                + String(decoding: message, as: UTF8.self))
        }
        return data
    }
}
