import Foundation
import GRDB

/// One version of a taxonomy learned with `genred learn` (or imported): its manifest and
/// weights exactly as `genred learn --export` writes them, with the evaluation it was chosen by.
public struct TaxonomyRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "taxonomy"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

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

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// The taxonomy this row holds.
    public func taxonomy() throws(TaxonomyError) -> Taxonomy {
        try Taxonomy(manifest: Data(manifest.utf8), weights: weights, subject: "\(name) (version \(version))", version: version)
    }
}

/// One labelled track a taxonomy version was learned from: the training set, kept so that a
/// later `learn` can say which labels changed.
public struct TaxonomyExample: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "taxonomy_example"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    public var taxonomyId: Int64
    public var trackId: Int64?
    public var path: String
    /// JSON array of the track's classes.
    public var labels: String
    /// The album or folder it was grouped by in the folds.
    public var groupKey: String
    public var fold: Int

    public init(taxonomyId: Int64 = 0, trackId: Int64?, path: String, labels: [String], groupKey: String, fold: Int) {
        self.taxonomyId = taxonomyId
        self.trackId = trackId
        self.path = path
        self.labels = BlobCoding.json(labels)
        self.groupKey = groupKey
        self.fold = fold
    }

    public var labelList: [String] { BlobCoding.decodeJSON(labels) ?? [] }
}

extension LibraryStore {
    static func registerTaxonomyMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v5-taxonomies") { db in
            try db.create(table: "taxonomy") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull()
                t.column("version", .integer).notNull()
                t.column("model", .text).notNull()
                t.column("model_version", .text).notNull()
                t.column("manifest", .text).notNull()
                t.column("weights", .blob).notNull()
                t.column("report", .text)
                t.column("sources", .text)
                t.column("origin", .text).notNull()
                t.column("created_at", .datetime).notNull()
                t.uniqueKey(["name", "version"])
            }
            try db.create(table: "taxonomy_example") { t in
                t.column("taxonomy_id", .integer).notNull().references("taxonomy", onDelete: .cascade).indexed()
                t.column("track_id", .integer).references("track", onDelete: .setNull)
                t.column("path", .text).notNull()
                t.column("labels", .text).notNull()
                t.column("group_key", .text).notNull()
                t.column("fold", .integer).notNull()
            }
        }
    }

    /// Stores a new version of the record's taxonomy (the next number after the newest one of
    /// that name) and its training examples, in one transaction; `record` gets its id and version.
    public func saveTaxonomy(_ record: inout TaxonomyRecord, examples: [TaxonomyExample] = []) throws(StoreError) {
        let copy = record
        record = try write { db in
            var r = copy
            let newest = try Int.fetchOne(db, sql: "SELECT MAX(version) FROM taxonomy WHERE name = ?", arguments: [r.name]) ?? 0
            r.version = newest + 1
            try r.insert(db)
            for var e in examples {
                e.taxonomyId = r.id!
                try e.insert(db)
            }
            return r
        }
    }

    /// The newest version of `name`, or the given one.
    public func taxonomy(name: String, version: Int? = nil) throws(StoreError) -> TaxonomyRecord? {
        try read { db in
            var request = TaxonomyRecord.filter(Column("name") == name)
            if let version { request = request.filter(Column("version") == version) }
            return try request.order(Column("version").desc).fetchOne(db)
        }
    }

    /// Every version of `name`, newest first.
    public func taxonomyVersions(name: String) throws(StoreError) -> [TaxonomyRecord] {
        try read { try TaxonomyRecord.filter(Column("name") == name).order(Column("version").desc).fetchAll($0) }
    }

    /// The newest version of every taxonomy, by name.
    public func taxonomies() throws(StoreError) -> [TaxonomyRecord] {
        try read { db in
            try TaxonomyRecord.fetchAll(db, sql: """
                SELECT * FROM taxonomy t WHERE version = (SELECT MAX(version) FROM taxonomy WHERE name = t.name)
                ORDER BY name
                """)
        }
    }

    /// Deletes every version of `name` and its examples; returns how many versions there were.
    @discardableResult
    public func removeTaxonomy(name: String) throws(StoreError) -> Int {
        try write { try TaxonomyRecord.filter(Column("name") == name).deleteAll($0) }
    }

    public func taxonomyExamples(taxonomyID: Int64) throws(StoreError) -> [TaxonomyExample] {
        try read { try TaxonomyExample.filter(Column("taxonomy_id") == taxonomyID).order(Column("path")).fetchAll($0) }
    }

    /// Taxonomy features (`TaxonomyFeatures`) of every track analysed by this model version,
    /// ordered by path.
    public func taxonomyFeatures(model: String, version: String) throws(StoreError) -> (ids: [Int64], paths: [String], features: FeatureMatrix?) {
        try read { db in
            var ids: [Int64] = [], paths: [String] = [], values: [Float] = []
            var columns = 0
            let rows = try Row.fetchCursor(db, sql: """
                SELECT t.id, t.path, a.embedding, a.mean, a.taggram, a.windows
                FROM track t JOIN analysis a ON a.track_id = t.id
                WHERE a.model = ? AND a.model_version = ? ORDER BY t.path
                """, arguments: [model, version])
            while let row = try rows.next() {
                let f = TaxonomyFeatures.track(embedding: BlobCoding.float32(row["embedding"] as Data),
                                               mean: BlobCoding.float32(row["mean"] as Data),
                                               taggram: BlobCoding.float16(row["taggram"] as Data), windows: row["windows"])
                if ids.isEmpty { columns = f.count }
                guard f.count == columns else { continue }
                ids.append(row["id"])
                paths.append(row["path"])
                values += f
            }
            return (ids, paths, ids.isEmpty ? nil : FeatureMatrix(rows: ids.count, columns: columns, values: values))
        }
    }
}
