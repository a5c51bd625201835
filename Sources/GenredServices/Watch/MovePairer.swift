import GenredEngine
import GenredLibrary
/// Pairs `IN_MOVED_FROM` with `IN_MOVED_TO` by cookie.
///
/// The two halves of a rename need not be adjacent in the queue, and a move out of the
/// watched tree has no `IN_MOVED_TO`: a `MOVED_FROM` still alone after `timeout` seconds
/// counts as moved out. A `MOVED_TO` always follows its `MOVED_FROM`, so one without a
/// waiting partner came from outside. Times are plain seconds on any monotonic clock.
struct MovePairer<Value> {
    fileprivate struct Entry {
        var cookie: UInt32
        var value: Value
        var at: Double
    }

    let timeout: Double
    /// In arrival order, so expiry returns them in the order they happened.
    private var waiting: [Entry] = []

    init(timeout: Double) {
        self.timeout = timeout
    }

    /// Number of `MOVED_FROM` halves still waiting for a partner.
    var pendingCount: Int { waiting.count }

    /// When the oldest waiting half times out; nil when none waits.
    var nextDeadline: Double? { waiting.first.map { $0.at + timeout } }

    mutating func movedFrom(cookie: UInt32, _ value: Value, now: Double) {
        waiting.append(Entry(cookie: cookie, value: value, at: now))
    }

    /// The `MOVED_FROM` half with this cookie, or nil when the file came from outside.
    mutating func movedTo(cookie: UInt32) -> Value? {
        guard let index = waiting.firstIndex(where: { $0.cookie == cookie }) else { return nil }
        return waiting.remove(at: index).value
    }

    /// The halves that waited `timeout` seconds or more: moved out of the tree.
    mutating func expired(now: Double) -> [Value] {
        let cut = waiting.prefix { now - $0.at >= timeout }.count
        guard cut > 0 else { return [] }
        let gone = waiting[..<cut].map(\.value)
        waiting.removeFirst(cut)
        return gone
    }

    /// Takes out the waiting halves matching `predicate` (for a name that is being reused,
    /// which proves the old file is not coming back under it).
    mutating func removeAll(where predicate: (Value) -> Bool) -> [Value] {
        var taken: [Value] = []
        waiting.removeAll { entry in
            guard predicate(entry.value) else { return false }
            taken.append(entry.value)
            return true
        }
        return taken
    }

    /// Forgets every waiting half.
    mutating func reset() {
        waiting.removeAll()
    }
}

extension MovePairer: Sendable where Value: Sendable {}
extension MovePairer.Entry: Sendable where Value: Sendable {}
