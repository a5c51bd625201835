import GenredEngine
/// What a list of tracks shows of each, and what a media server matches a song on: the
/// MusicBrainz recording id, the ISRC, title, artist and duration.
public struct TrackSummary: Sendable, Equatable {
    public var id: Int64
    public var path: String
    public var title: String?
    public var artist: String?
    public var album: String?
    public var duration: Double?
    /// The genres genred tags the track with under the current settings (`TagPlanner`).
    public var genres: [String]
    var musicbrainzRecordingId: String?
    public var isrc: String?

    public init(id: Int64, path: String, title: String? = nil, artist: String? = nil, album: String? = nil,
                duration: Double? = nil, genres: [String] = [], musicbrainzRecordingId: String? = nil, isrc: String? = nil) {
        self.id = id
        self.path = path
        self.title = title
        self.artist = artist
        self.album = album
        self.duration = duration
        self.genres = genres
        self.musicbrainzRecordingId = musicbrainzRecordingId
        self.isrc = isrc
    }

    /// The folder the file is in.
    public var folder: String { FilePath.parent(path) }

    /// "Artist - Title", the one that is there, or the file's name.
    public var displayName: String { Playlist.displayName(path: path, title: title, artist: artist) }

    /// The object's fields in order. Clients should ignore keys they do not know: more labels
    /// (a taxonomy's, say) are added as keys of their own.
    var jsonFields: [(String, JSONLine.Value)] {
        [
            ("id", .int(Int(id))), ("path", .string(path)), ("title", JSONLine.string(title)),
            ("artist", JSONLine.string(artist)), ("album", JSONLine.string(album)),
            ("duration_s", duration.map { .number($0) } ?? .raw("null")),
            ("genres", .array(genres.map { .string($0) })),
            ("musicbrainz_recording_id", JSONLine.string(musicbrainzRecordingId)), ("isrc", JSONLine.string(isrc)),
        ]
    }

    public var json: String { JSONLine.object(jsonFields) }
}
