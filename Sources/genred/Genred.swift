import ArgumentParser
import GenredKit

@main
struct Genred: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genred",
        abstract: "Listens to a music collection and tags it with genres and moods.",
        discussion: """
            genred decodes each track, computes its log-mel spectrogram and scores it window by \
            window (3-second windows) with a pretrained musicnn model bundle.
            """,
        subcommands: [Analyze.self, Retag.self, Undo.self, Watch.self, Status.self, Similar.self, Show.self, Map.self, Eval.self, Bench.self]
    )

    /// Makes sure the BLAS kernels fit this CPU (this may execute the binary again, same
    /// process id and arguments; see `BLASDispatch`), then parses and runs as usual.
    static func main() {
        BLASDispatch.fitToCPU()
        main(nil)
    }
}

/// Prints to standard error.
func printError(_ message: String) {
    var stderr = StandardError()
    print(message, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}

import Foundation
