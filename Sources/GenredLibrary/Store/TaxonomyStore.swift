import Foundation
import GenredEngine

/// One version of a taxonomy learned with `genred learn` (or imported): its manifest and
/// weights exactly as `genred learn export` writes them, with the evaluation it was chosen by.
public struct TaxonomyRecord: Codable, Sendable, Equatable, StoredRecord {
    static let tableName = "taxonomy"

    public enum Origin: String, Codable, Sendable {
        case learned, imported
    }

    public var id: Int64?
    public var name: String
    /// 1 for the first version of a name; each `learn` or `import` adds the next.
    public var version: Int
    /// The base model (name and version) its features come from.
    public var model: String
    public var modelVersion: String
    /// `manifest.json` (text) and `head.safetensors` (bytes).
    public var manifest: String
    public var weights: Data
    /// JSON `LearnReport` of the run that learned it; nil for an imported one.
    public var report: String?
    /// JSON `LearnSources`: what it was learned from, so `genred learn NAME` can learn it again.
    public var sources: String?
    public var origin: Origin
    public var createdAt: Date

    public init(taxonomy: Taxonomy, report: String?, sources: String?, origin: Origin, createdAt: Date = Date()) {
        let (manifest, weights) = taxonomy.encoded()
        name = taxonomy.name
        version = 0
        model = taxonomy.manifest.baseModel.name
        modelVersion = taxonomy.manifest.baseModel.version
        self.manifest = String(decoding: manifest, as: UTF8.self)
        self.weights = weights
        self.report = report
        self.sources = sources
        self.origin = origin
        self.createdAt = createdAt
    }


    /// The taxonomy this row holds.
    public func taxonomy() throws(TaxonomyError) -> Taxonomy {
        try Taxonomy(manifest: Data(manifest.utf8), weights: weights, subject: "\(name) (version \(version))", version: version)
    }
}

/// One labelled track a taxonomy version was learned from: the training set, kept so that a
/// later `learn` can say which labels changed.
public struct TaxonomyExample: Codable, Sendable, Equatable, StoredRecord {
    static let tableName = "taxonomy_example"

    var taxonomyId: Int64
    var trackId: Int64?
    public var path: String
    /// JSON array of the track's classes.
    public var labels: String
    /// The album or folder it was grouped by in the folds.
    var groupKey: String
    public var fold: Int

    public init(taxonomyId: Int64 = 0, trackId: Int64?, path: String, labels: [String], groupKey: String, fold: Int) {
        self.taxonomyId = taxonomyId
        self.trackId = trackId
        self.path = path
        self.labels = BlobCoding.json(labels)
        self.groupKey = groupKey
        self.fold = fold
    }

    var labelList: [String] { BlobCoding.decodeJSON(labels) ?? [] }
}

extension LibraryStore {
    /// Stores a new version of the record's taxonomy (the next number after the newest one of
    /// that name) and its training examples, in one transaction; `record` gets its id and version.
    public func saveTaxonomy(_ record: inout TaxonomyRecord, examples: [TaxonomyExample] = []) throws(StoreError) {
        let copy = record
        record = try write { db in
            var r = copy
            let newest = try db.integer("SELECT MAX(version) FROM taxonomy WHERE name = ?", [.text(r.name)]) ?? 0
            r.version = Int(newest) + 1
            r.id = try db.insert(r)
            for var e in examples {
                e.taxonomyId = r.id!
                try db.insert(e)
            }
            return r
        }
    }

    /// The newest version of `name`, or the given one.
    public func taxonomy(name: String, version: Int? = nil) throws(StoreError) -> TaxonomyRecord? {
        try read { db in
            if let version {
                return try db.fetchOne(TaxonomyRecord.self, "SELECT * FROM taxonomy WHERE name = ? AND version = ?",
                                       [.text(name), .integer(Int64(version))])
            }
            return try db.fetchOne(TaxonomyRecord.self, "SELECT * FROM taxonomy WHERE name = ? ORDER BY version DESC LIMIT 1", [.text(name)])
        }
    }

    /// Every version of `name`, newest first.
    public func taxonomyVersions(name: String) throws(StoreError) -> [TaxonomyRecord] {
        try read { try $0.fetch(TaxonomyRecord.self, "SELECT * FROM taxonomy WHERE name = ? ORDER BY version DESC", [.text(name)]) }
    }

    /// The newest version of every taxonomy, by name.
    public func taxonomies() throws(StoreError) -> [TaxonomyRecord] {
        try read { db in
            try db.fetch(TaxonomyRecord.self, """
                SELECT * FROM taxonomy t WHERE version = (SELECT MAX(version) FROM taxonomy WHERE name = t.name)
                ORDER BY name
                """)
        }
    }

    /// Deletes every version of `name` and its examples; returns how many versions there were.
    @discardableResult
    public func removeTaxonomy(name: String) throws(StoreError) -> Int {
        try write { db in
            // Examples go with their versions (the engines' cascades differ in when they run).
            try db.execute("DELETE FROM taxonomy_example WHERE taxonomy_id IN (SELECT id FROM taxonomy WHERE name = ?)", [.text(name)])
            return try db.execute("DELETE FROM taxonomy WHERE name = ?", [.text(name)])
        }
    }

    func taxonomyExamples(taxonomyID: Int64) throws(StoreError) -> [TaxonomyExample] {
        try read {
            try $0.fetch(TaxonomyExample.self, "SELECT * FROM taxonomy_example WHERE taxonomy_id = ? ORDER BY path", [.integer(taxonomyID)])
        }
    }

    /// Taxonomy features (`TaxonomyFeatures`) of every track analysed by this model version,
    /// ordered by path.
    func taxonomyFeatures(model: String, version: String) throws(StoreError) -> (ids: [Int64], paths: [String], features: FeatureMatrix?) {
        try read { db in
            var ids: [Int64] = [], paths: [String] = [], values: [Float] = []
            var columns = 0
            try db.each("""
                SELECT t.id, t.path, a.embedding, a.mean, a.taggram, a.windows
                FROM track t JOIN analysis a ON a.track_id = t.id
                WHERE a.model = ? AND a.model_version = ? ORDER BY t.path
                """, [.text(model), .text(version)]) { row in
                let f = TaxonomyFeatures.track(embedding: BlobCoding.float32(row.data("embedding") ?? Data()),
                                               mean: BlobCoding.float32(row.data("mean") ?? Data()),
                                               taggram: BlobCoding.float16(row.data("taggram") ?? Data()), windows: row.int("windows") ?? 0)
                if ids.isEmpty { columns = f.count }
                guard f.count == columns, let id = row.int64("id") else { return }
                ids.append(id)
                paths.append(row.string("path") ?? "")
                values += f
            }
            return (ids, paths, ids.isEmpty ? nil : FeatureMatrix(rows: ids.count, columns: columns, values: values))
        }
    }
}
