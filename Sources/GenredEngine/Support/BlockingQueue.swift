import Foundation

/// A first-in first-out queue that blocks readers until an item arrives or it is closed.
///
/// `@unchecked Sendable`: every access to `items` and `closed` happens with `condition` locked.
package final class BlockingQueue<Item: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    /// Popped slots are emptied at once, so the queue never holds what it handed out.
    private var items: [Item?] = []
    private var head = 0
    private var closed = false
    private let capacity: Int

    /// A queue holding at most `capacity` items: `push` waits for room.
    package init(_ items: [Item] = [], capacity: Int = .max) {
        self.items = items
        self.capacity = capacity
    }

    package func push(_ item: Item) {
        condition.lock()
        while items.count - head >= capacity && !closed { condition.wait() }
        items.append(item)
        condition.broadcast()
        condition.unlock()
    }

    /// No more items will come; readers drain what is left and then get nil.
    package func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Closes the queue and drops what it still holds; returns how many items were dropped.
    @discardableResult
    package func closeAndDrain() -> Int {
        condition.lock()
        defer { condition.unlock() }
        let dropped = items.count - head
        items.removeAll()
        head = 0
        closed = true
        condition.broadcast()
        return dropped
    }

    /// The next item if one is ready, without waiting.
    package func tryPop() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        return take()
    }

    package var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count - head
    }

    /// The next item, waiting at most `timeout` seconds; nil when none came (or the queue is
    /// closed and empty).
    package func pop(timeout: Double) -> Item? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while head == items.count && !closed {
            if !condition.wait(until: deadline) { break }
        }
        return take()
    }

    /// The next item, waiting for one; nil once the queue is closed and empty.
    package func pop() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && !closed { condition.wait() }
        return take()
    }

    /// The head item, if any, with `condition` locked; compacts the storage now and then.
    private func take() -> Item? {
        guard head < items.count else { return nil }
        let item = items[head]
        items[head] = nil
        head += 1
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return item!
    }
}
