import Dispatch

/// Runs `body(worker)` for `workers` workers at once and returns when every call has returned.
///
/// `body` need not be `Sendable`: each caller gives every worker its own disjoint memory to
/// write and shares only read-only data, and nothing outlives this call because
/// `concurrentPerform` blocks until all iterations are done.
package func parallelFor(_ workers: Int, _ body: (Int) -> Void) {
    if workers == 1 { return body(0) }
    withoutActuallyEscaping(body) { escapable in
        let shared = UncheckedSendable(escapable)
        DispatchQueue.concurrentPerform(iterations: workers) { shared.value($0) }
    }
}

/// Carries a value across a concurrency boundary whose safety the caller establishes
/// (see `parallelFor`).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
