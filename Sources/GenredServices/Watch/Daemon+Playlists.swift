import Foundation
import GenredEngine
import GenredLibrary

/// `[playlists]`: the daemon keeps genred's playlists up to date as the library changes.
///
/// Updates are coalesced: the store's content stamp is checked every few seconds, and when it
/// has moved the playlists are planned and written again, at most once per
/// `playlistInterval` (so each playlist is rewritten at most once a minute, and only when its
/// content changed; see `PlaylistWriter`). The first update comes right after start.
extension Daemon {
    /// The least time between two updates of the playlists.
    static let playlistInterval: Double = 60
    /// How often the store's content stamp is looked at.
    static let playlistCheckInterval: Double = 5

    struct PlaylistState {
        var checked = Date.distantPast
        var written = Date.distantPast
        /// The content stamp the playlists were last planned from.
        var stamp: LibraryStore.ContentStamp?
        var planned = false
        /// The last failure, so it is logged once.
        var problem: String?
    }

    func updatePlaylists(now: Date = Date()) {
        let settings = configuration.playlists
        guard settings.enabled, let folder = settings.folder else { return }
        guard now.timeIntervalSince(playlists.checked) >= Self.playlistCheckInterval else { return }
        playlists.checked = now
        guard now.timeIntervalSince(playlists.written) >= Self.playlistInterval else { return }
        let stamp = try? store.contentStamp()
        if playlists.planned && stamp != nil && stamp == playlists.stamp { return }
        do {
            let outcome = try watchdog.busy {
                let plan = try PlaylistPlanner.plan(store: store, manifest: processor.bundle.manifest, tags: configuration.tags,
                                                    settings: settings)
                if !playlists.planned { for note in plan.notes { Log.warning("playlists: \(note)") } }
                return try PlaylistWriter(folder: folder).update(plan.playlists)
            }
            playlists.planned = true
            playlists.stamp = stamp
            playlists.written = now
            playlists.problem = nil
            for path in outcome.written { Log.info("playlists: wrote \(path)") }
            for path in outcome.removed { Log.info("playlists: removed \(path)") }
            for path in outcome.foreign { Log.debug("playlists: \(path) has no genred marker; left alone") }
        } catch {
            let text = "\(error)"
            if text != playlists.problem { Log.error("playlists: \(text)") }
            playlists.problem = text
            playlists.written = now
        }
    }
}
