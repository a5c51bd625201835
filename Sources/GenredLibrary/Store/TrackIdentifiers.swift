import Foundation
import GenredEngine

/// Normal forms of the identifiers, so a lookup finds a track however a tagger spelled them.
enum TrackIdentifier {
    /// A MusicBrainz id in lower case without surrounding space; nil when empty.
    static func musicBrainz(_ text: String?) -> String? {
        guard let t = text?.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty else { return nil }
        return t.lowercased()
    }

    /// An ISRC in upper case without hyphens or spaces (`US-RC1-76-07839` is `USRC17607839`); nil when empty.
    public static func isrc(_ text: String?) -> String? {
        guard let t = text else { return nil }
        let kept = t.uppercased().filter { $0.isLetter || $0.isNumber }
        return kept.isEmpty ? nil : kept
    }
}

extension LibraryStore {
    /// What moves whenever anything a query answers from changes: every write to a track row
    /// (new, moved, retagged, failed) and every stored analysis (stored with its track's row)
    /// sets `updated_at`, and a forgotten track lowers the count.
    public struct ContentStamp: Sendable, Equatable {
        public var tracks: Int
        public var lastUpdate: Date?
    }

    public func contentStamp() throws(StoreError) -> ContentStamp {
        try read { db in
            let row = try db.row("SELECT COUNT(*) AS n, MAX(updated_at) AS last FROM track")
            return ContentStamp(tracks: row?.int("n") ?? 0, lastUpdate: row?.date("last"))
        }
    }
}
