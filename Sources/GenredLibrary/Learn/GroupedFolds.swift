import GenredEngine
/// Cross-validation folds that keep each group (an album, or a folder) whole.
///
/// Tracks of one album share a recording, a mix and a master, and often a cover artist's
/// sound: a classifier that has heard some of an album recognises the rest by that, not by
/// the label. If one album sat in both training and test, the score would measure the album,
/// not the label (the "album effect", or artist effect, of genre-classification studies).
/// Whole groups go to one fold each.
///
/// Groups are dealt greedily, largest first (ties in a seeded order), each to the fold where
/// its classes are scarcest so far, so each fold holds about a `1/k` share of every class.
public struct GroupedFolds: Sendable, Equatable {
    /// The fold of each track, `0..<count`.
    package let assignment: [Int]
    public let count: Int

    public init(assignment: [Int], count: Int) {
        self.assignment = assignment
        self.count = count
    }

    /// `k` folds over tracks with these group keys and class memberships (`classes[i]`: the
    /// classes of track `i`). `k` is lowered to the number of groups when there are fewer.
    public static func make(groups: [String], classes: [[Int]], classCount: Int, k: Int, seed: UInt64) -> GroupedFolds {
        var order: [String] = []
        var members: [String: [Int]] = [:]
        for (i, g) in groups.enumerated() {
            if members[g] == nil { order.append(g) }
            members[g, default: []].append(i)
        }
        let folds = max(1, min(k, order.count))
        var rng = SeededGenerator(seed: seed)
        // A seeded shuffle, then a stable sort by size: equal-sized groups keep the shuffled order.
        order.shuffle(using: &rng)
        let ranked = order.enumerated().sorted { a, b in
            let (sa, sb) = (members[a.element]!.count, members[b.element]!.count)
            return sa != sb ? sa > sb : a.offset < b.offset
        }.map(\.element)

        var totals = [Double](repeating: 0, count: classCount)
        for list in classes { for c in list { totals[c] += 1 } }
        var perFold = [[Double]](repeating: [Double](repeating: 0, count: classCount), count: folds)
        var sizes = [Int](repeating: 0, count: folds)
        var assignment = [Int](repeating: 0, count: groups.count)
        for g in ranked {
            var counts = [Double](repeating: 0, count: classCount)
            for i in members[g]! { for c in classes[i] { counts[c] += 1 } }
            var best = 0, bestCost = Double.infinity
            for f in 0..<folds {
                // How far over its share of each class the fold would go; then the smaller fold.
                var cost = 0.0
                for c in 0..<classCount where counts[c] > 0 {
                    let share = (perFold[f][c] + counts[c]) / totals[c]
                    cost += share * share
                }
                cost += 1e-9 * Double(sizes[f])
                if cost < bestCost {
                    bestCost = cost
                    best = f
                }
            }
            for c in 0..<classCount { perFold[best][c] += counts[c] }
            sizes[best] += members[g]!.count
            for i in members[g]! { assignment[i] = best }
        }
        return GroupedFolds(assignment: assignment, count: folds)
    }

    /// Training and test indices of fold `f`.
    public func split(_ f: Int) -> (train: [Int], test: [Int]) {
        var train: [Int] = [], test: [Int] = []
        for (i, a) in assignment.enumerated() {
            if a == f { test.append(i) } else { train.append(i) }
        }
        return (train, test)
    }
}
