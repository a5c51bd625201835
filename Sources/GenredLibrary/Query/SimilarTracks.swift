import Foundation
import GenredEngine

/// "Which tracks sound like this one?" and "which tracks fit these labels?", over a
/// `SimilarityIndex` (see docs/similarity.md).
public enum SimilarTracks {
    /// The track a question is about: one in the library, or a file analysed on the fly.
    public struct Subject: Sendable {
        public var id: Int64?
        public var path: String
        public var title, artist, album: String?
        public var embedding: [Float]
        public var scores: [Float]

        public init(id: Int64?, path: String, title: String? = nil, artist: String? = nil, album: String? = nil,
                    embedding: [Float], scores: [Float]) {
            self.id = id
            self.path = path
            self.title = title
            self.artist = artist
            self.album = album
            self.embedding = embedding
            self.scores = scores
        }
    }

    /// The subject for a file or a track id: a file that exists is looked up by path, and
    /// analysed now (nothing is stored) when the library has no analysis of it.
    public static func subject(_ argument: String, store: LibraryStore, bundle: ModelBundle) throws -> Subject {
        var record: TrackRecord?
        var path = FilePath.normalize(argument)
        if PathIO.exists(path) {
            record = try store.track(path: path)
        } else if let id = Int64(argument), let byID = try store.track(id: id) {
            record = byID
            path = byID.path
        } else {
            throw QueryError(argument, .unknownTrack)
        }
        if let record, let id = record.id, let analysis = try store.analysis(trackID: id, model: bundle.name) {
            return Subject(id: id, path: path, title: record.title, artist: record.artist, album: record.album,
                           embedding: analysis.embeddingVector, scores: analysis.meanScores)
        }
        do {
            let a = try Analyzer(bundle: bundle).analyze(path)
            return Subject(id: nil, path: path, embedding: a.embedding, scores: a.mean)
        } catch {
            throw QueryError(path, .analysisFailed("\(error)"))
        }
    }

    /// The subject for a row of the index.
    public static func subject(row i: Int, of index: SimilarityIndex) -> Subject {
        let t = index.tracks, d = t.embeddingSize, l = t.labelCount
        return Subject(id: t.ids[i], path: t.paths[i], title: t.titles[i], artist: t.artists[i], album: t.albums[i],
                       embedding: Array(t.embeddings[(i * d)..<((i + 1) * d)]), scores: Array(t.scores[(i * l)..<((i + 1) * l)]))
    }

    /// The `count` tracks nearest to `subject`, nearest first, never the subject itself (by id or
    /// exact path); without `sameAlbum`, none from its album (compared ignoring case).
    public static func nearest(to subject: Subject, in index: SimilarityIndex, count: Int, sameAlbum: Bool) -> [SimilarityIndex.Match] {
        let album = sameAlbum ? nil : subject.album?.lowercased()
        let tracks = index.tracks
        let path = ExactPath(subject.path)
        return index.nearest(to: subject.embedding, scores: subject.scores, count: count) { i in
            tracks.ids[i] != subject.id && ExactPath(tracks.paths[i]) != path
                && (album == nil || tracks.albums[i]?.lowercased() != album)
        }
    }

    /// Tracks that best match labels given as "jazz, mellow" (labels or display names, any
    /// case), and the label indices found; unknown names are a `badParameter` error.
    public static func like(_ labels: String, in index: SimilarityIndex, count: Int) throws(QueryError) -> (labels: [Int], matches: [SimilarityIndex.Match]) {
        let (found, unknown) = index.labelIndices(labels.split(separator: ",").map(String.init))
        if !unknown.isEmpty {
            throw QueryError(unknown.joined(separator: ", "),
                             .badParameter("unknown label(s) (labels: \(index.displayNames.joined(separator: ", ")))"))
        }
        return (found, index.like(labels: found, count: count))
    }

    /// One track a taxonomy gives the asked-for label.
    public struct TaxonomyMatch: Sendable, Equatable {
        public var id: Int64
        public var path: String
        /// The calibrated probability of the label.
        public var probability: Float
    }

    /// Whether `like` names a taxonomy's label as `NAME:LABEL` (NAME one of `taxonomies`); the
    /// name and label when it does.
    public static func taxonomyLabel(_ like: String, taxonomies: [String]) -> (taxonomy: String, label: String)? {
        let text = like.trimmingCharacters(in: .whitespaces)
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let name = String(text[..<colon]), label = String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        return taxonomies.contains(name) && !label.isEmpty ? (name, label) : nil
    }

    /// The tracks `labels` gives `label` (compared as `genred eval` compares labels), most
    /// probable first: those where the taxonomy abstains are never listed. `include` filters
    /// by track id and path. An unknown label is a `badParameter` error.
    public static func like(label: String, in labels: TaxonomyQuery.Labels, count: Int,
                            include: (Int64, String) -> Bool = { _, _ in true }) throws(QueryError) -> [TaxonomyMatch] {
        let key = EvalLabelMap.key(label)
        guard let c = labels.taxonomy.labels.firstIndex(where: { EvalLabelMap.key($0) == key }) else {
            throw QueryError(label, .badParameter("not a label of taxonomy \(labels.taxonomy.name) (labels: \(labels.taxonomy.labels.joined(separator: ", ")))"))
        }
        var out: [TaxonomyMatch] = []
        for i in labels.tracks(labelled: label) where include(labels.trackIDs[i], labels.paths[i]) {
            out.append(TaxonomyMatch(id: labels.trackIDs[i], path: labels.paths[i], probability: labels.predictions[i].probabilities[c]))
            if out.count == count { break }
        }
        return out
    }

    /// "shared: A, B" for a match's labels, or "" when it has none.
    public static func reason(_ shared: [String]) -> String {
        shared.isEmpty ? "" : "shared: " + shared.joined(separator: ", ")
    }
}

extension SimilarityIndex.Match {
    /// The OpenSubsonic scale: 1 for the same sound, falling to 0; one minus the cosine
    /// distance, clamped to [0, 1] (opposite-sounding tracks are all 0).
    public var similarity: Float { Swift.max(0, Swift.min(1, 1 - distance)) }
}
