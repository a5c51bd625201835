import Foundation

/// A first-in first-out queue that blocks readers until an item arrives or it is closed.
///
/// `@unchecked Sendable`: every access to `items` and `closed` happens with `condition` locked.
final class BlockingQueue<Item: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Item] = []
    private var head = 0
    private var closed = false

    init(_ items: [Item] = []) { self.items = items }

    func push(_ item: Item) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    /// No more items will come; readers drain what is left and then get nil.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// The next item if one is ready, without waiting.
    func tryPop() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        return item
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count - head
    }

    /// The next item, waiting for one; nil once the queue is closed and empty.
    func pop() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && !closed { condition.wait() }
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return item
    }
}
