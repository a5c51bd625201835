import Foundation
import Synchronization
import GenredEngine

/// The library as a long-running front end (`genred serve`) sees it: a snapshot of the analysed
/// tracks, read again when the library changes, and maps kept until it does.
///
/// A change is noticed through `LibraryStore.contentStamp` (the track count and the latest
/// `updated_at`, one index probe), asked at most once per `refreshInterval`, so a burst of
/// queries costs one probe and a daemon's new analyses show within that interval.
public final class LibraryQuery: Sendable {
    public let store: LibraryStore
    public let manifest: BundleManifest
    public let settings: TagSettings
    public let refreshInterval: TimeInterval

    private struct State {
        var snapshot: LibrarySnapshot?
        var checkedAt: Date = .distantPast
        var maps: [MapKey: LibraryMap] = [:]
        var taxonomyLabels: [TaxonomyKey: [Int64: String]] = [:]
    }

    /// A taxonomy's labels hold until the library or the taxonomy (a new version) changes.
    private struct TaxonomyKey: Hashable {
        var name: String
        var version: Int
        var tracks: Int
        var lastUpdate: Date?
    }

    private struct MapKey: Hashable {
        var features: MapFeatures
        var tracks: Int
        var lastUpdate: Date?
    }

    private let state = Mutex(State())
    /// Serialises snapshot loads, so concurrent requests after a change load it once.
    private let loading = Mutex(())

    public init(store: LibraryStore, manifest: BundleManifest, settings: TagSettings, refreshInterval: TimeInterval = 1) {
        self.store = store
        self.manifest = manifest
        self.settings = settings
        self.refreshInterval = refreshInterval
    }

    /// The current snapshot, read again first when the library changed since the last one.
    public func snapshot(now: Date = Date()) throws(StoreError) -> LibrarySnapshot {
        let (cached, due) = state.withLock { s in (s.snapshot, now.timeIntervalSince(s.checkedAt) >= refreshInterval) }
        if let cached, !due { return cached }
        return try loading.withLock { _ throws(StoreError) -> LibrarySnapshot in
            // Another caller may have loaded it meanwhile.
            let (current, checkedAt) = state.withLock { s in (s.snapshot, s.checkedAt) }
            if let current, now.timeIntervalSince(checkedAt) < refreshInterval { return current }
            let stamp = try store.contentStamp()
            if let current, current.stamp == stamp {
                state.withLock { $0.checkedAt = now }
                return current
            }
            let fresh = try LibrarySnapshot.load(store: store, manifest: manifest, settings: settings)
            state.withLock { s in
                s.snapshot = fresh
                s.checkedAt = now
                // Maps of an older library are of no use any more.
                s.maps = s.maps.filter { $0.key.tracks == fresh.stamp?.tracks && $0.key.lastUpdate == fresh.stamp?.lastUpdate }
                s.taxonomyLabels = s.taxonomyLabels.filter {
                    $0.key.tracks == fresh.stamp?.tracks && $0.key.lastUpdate == fresh.stamp?.lastUpdate
                }
            }
            return fresh
        }
    }

    /// The map of `snapshot` by `features`, if one was computed for the library as it is.
    public func cachedMap(_ snapshot: LibrarySnapshot, features: MapFeatures) -> LibraryMap? {
        let key = MapKey(features: features, tracks: snapshot.stamp?.tracks ?? -1, lastUpdate: snapshot.stamp?.lastUpdate)
        return state.withLock { $0.maps[key] }
    }

    /// Computes the map of `snapshot` (seconds to minutes: call it off the request threads) and
    /// keeps it until the library changes.
    public func computeMap(_ snapshot: LibrarySnapshot, features: MapFeatures, options: TSNEOptions = TSNEOptions()) -> LibraryMap {
        if let cached = cachedMap(snapshot, features: features) { return cached }
        let map = LibraryMap.compute(snapshot.tracks, manifest: manifest, features: features, options: options)
        let key = MapKey(features: features, tracks: snapshot.stamp?.tracks ?? -1, lastUpdate: snapshot.stamp?.lastUpdate)
        state.withLock { $0.maps[key] = map }
        return map
    }

    // MARK: Taxonomies

    /// The colourings a map of this library offers: the built-in ones, then `taxonomy:NAME` for
    /// each stored taxonomy.
    public func colourNames() -> [String] {
        let stored = (try? TaxonomyQuery(store: store).list()) ?? []
        return MapColouring.names + stored.map { MapColouring.taxonomyPrefix + $0.name }
    }

    /// The label taxonomy `name` gives each track of the library as `snapshot` saw it, by track
    /// id (absent where it abstains); computed once per library state and taxonomy version.
    public func taxonomyLabels(_ name: String, snapshot: LibrarySnapshot) throws(QueryError) -> [Int64: String] {
        let record: TaxonomyRecord?
        do { record = try store.taxonomy(name: name) } catch { throw QueryError("colour", .badParameter(error.description)) }
        guard let record else { throw QueryError("colour", .badParameter("no taxonomy named \(name) in this library")) }
        let key = TaxonomyKey(name: name, version: record.version, tracks: snapshot.stamp?.tracks ?? -1,
                              lastUpdate: snapshot.stamp?.lastUpdate)
        if let cached = state.withLock({ $0.taxonomyLabels[key] }) { return cached }
        let labels: [Int64: String]
        do { labels = try TaxonomyQuery(store: store).labelByTrack(taxonomy: name) } catch {
            throw QueryError("colour", .badParameter(error.description))
        }
        state.withLock { $0.taxonomyLabels[key] = labels }
        return labels
    }
}
