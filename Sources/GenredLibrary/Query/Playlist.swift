import GenredEngine
/// Extended M3U playlists of library tracks.
public enum Playlist {
    public struct Entry: Sendable {
        public var path: String
        public var title: String?
        public var artist: String?
        public var duration: Double?

        public init(path: String, title: String?, artist: String?, duration: Double?) {
            self.path = path
            self.title = title
            self.artist = artist
            self.duration = duration
        }
    }

    /// `#EXTM3U`, then `#EXTINF:seconds,name` and the path for each entry (-1 seconds when
    /// unknown). Paths keep their carried bytes: write the text with `PathIO.writeText` or send
    /// `FilePath.bytes(text)`, so a player opens the files.
    public static func m3u(_ entries: [Entry]) -> String {
        var text = "#EXTM3U\n"
        for e in entries {
            let seconds = e.duration.map { Int($0.rounded()) } ?? -1
            text += "#EXTINF:\(seconds),\(displayName(path: e.path, title: e.title, artist: e.artist))\n\(e.path)\n"
        }
        return text
    }

    /// "Artist - Title", whichever of the two there is, or the file's name shown escaped.
    public static func displayName(path: String, title: String?, artist: String?) -> String {
        switch (artist, title) {
        case let (a?, t?): "\(a) - \(t)"
        case let (nil, t?): t
        case let (a?, nil): a
        default: FilePath.display(FilePath.lastComponent(path))
        }
    }
}
