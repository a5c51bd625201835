import GenredEngine
/// The questions `show`, `similar --like`, `map` (and a server) ask about learned taxonomies,
/// answered from the library database alone: no audio is decoded.
///
/// Every answer comes from a track's stored analysis by the taxonomy's base model, so a track
/// not analysed by that model has no prediction rather than a wrong one.
public struct TaxonomyQuery: Sendable {
    public let store: LibraryStore

    public init(store: LibraryStore) { self.store = store }

    /// A stored taxonomy's name, newest version and classes.
    public struct Summary: Sendable, Equatable {
        public var name: String
        public var version: Int
        public var labels: [String]
        public var model: String
        public var modelVersion: String
        public var output: TaxonomyOutput
    }

    /// One taxonomy's answer for one track.
    public struct TrackPrediction: Sendable, Equatable {
        public var taxonomy: Summary
        public var prediction: TaxonomyPrediction
    }

    /// One taxonomy's answers for every track analysed by its base model, ordered by path.
    public struct Labels: Sendable {
        public var taxonomy: Summary
        var trackIDs: [Int64]
        public var paths: [String]
        public var predictions: [TaxonomyPrediction]

        /// The indices of the tracks given `label` (compared as `genred eval` compares labels),
        /// most probable first: the seed set of `similar --like LABEL`.
        public func tracks(labelled label: String) -> [Int] {
            let key = EvalLabelMap.key(label)
            guard let c = taxonomy.labels.firstIndex(where: { EvalLabelMap.key($0) == key }) else { return [] }
            return predictions.indices.filter { predictions[$0].given.contains(taxonomy.labels[c]) }
                .sorted { predictions[$0].probabilities[c] > predictions[$1].probabilities[c] }
        }
    }

    /// The newest version of each stored taxonomy that this genred can read, by name.
    public func list() throws(StoreError) -> [Summary] {
        try store.taxonomies().compactMap { r in (try? r.taxonomy()).map { Self.summary($0, r) } }
    }

    /// The newest version of `name` (or the given one), ready to apply.
    public func taxonomy(named name: String, version: Int? = nil) throws(TaxonomyError) -> Taxonomy {
        let record: TaxonomyRecord?
        do { record = try store.taxonomy(name: name, version: version) } catch {
            throw TaxonomyError(name, .database(error.description))
        }
        guard let record else { throw TaxonomyError(name, .notFound) }
        return try record.taxonomy()
    }

    /// What each stored taxonomy (or those named) says about one track; taxonomies whose base
    /// model has not analysed the track are left out.
    public func predictions(trackID: Int64, names: [String]? = nil) throws(TaxonomyError) -> [TrackPrediction] {
        var out: [TrackPrediction] = []
        let records: [TaxonomyRecord]
        do { records = try store.taxonomies() } catch { throw TaxonomyError(store.path, .database(error.description)) }
        for r in records where names?.contains(r.name) ?? true {
            guard let taxonomy = try? r.taxonomy() else { continue }
            let analysis: AnalysisRecord?
            do { analysis = try store.analysis(trackID: trackID, model: taxonomy.manifest.baseModel.name) } catch {
                throw TaxonomyError(store.path, .database(error.description))
            }
            guard let analysis, taxonomy.reads(analysis) else { continue }
            out.append(TrackPrediction(taxonomy: Self.summary(taxonomy, r), prediction: taxonomy.prediction(analysis)))
        }
        return out
    }

    /// `name`'s answer for every track its base model analysed (one BLAS pass): for colouring a
    /// map by taxonomy label, or finding the tracks that carry a label.
    public func labels(taxonomy name: String) throws(TaxonomyError) -> Labels {
        let record: TaxonomyRecord?
        do { record = try store.taxonomy(name: name) } catch { throw TaxonomyError(name, .database(error.description)) }
        guard let record else { throw TaxonomyError(name, .notFound) }
        let taxonomy = try record.taxonomy()
        let base = taxonomy.manifest.baseModel
        let library: (ids: [Int64], paths: [String], features: FeatureMatrix?)
        do { library = try store.taxonomyFeatures(model: base.name, version: base.version) } catch {
            throw TaxonomyError(store.path, .database(error.description))
        }
        return Labels(taxonomy: Self.summary(taxonomy, record), trackIDs: library.ids, paths: library.paths,
                      predictions: library.features.map { taxonomy.predictions($0) } ?? [])
    }

    /// The label `name` gives each track, by track id; tracks where it abstains are absent.
    public func labelByTrack(taxonomy name: String) throws(TaxonomyError) -> [Int64: String] {
        let all = try labels(taxonomy: name)
        var out: [Int64: String] = [:]
        for (id, p) in zip(all.trackIDs, all.predictions) { if let label = p.label { out[id] = label } }
        return out
    }

    static func summary(_ t: Taxonomy, _ r: TaxonomyRecord) -> Summary {
        Summary(name: r.name, version: r.version, labels: t.labels, model: r.model, modelVersion: r.modelVersion,
                output: t.manifest.head.output)
    }
}
