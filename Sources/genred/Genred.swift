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
        version: genredVersion,
        subcommands: [Analyze.self, Retag.self, Undo.self, Watch.self, Status.self, Similar.self, Show.self, Map.self, Serve.self, Eval.self, Learn.self,
                      Radio.self, Playlists.self, Enqueue.self, Worker.self, Bench.self, Doctor.self, Migrate.self]
    )

    /// Makes sure the BLAS kernels fit this CPU (this may execute the binary again, same
    /// process id and arguments; see `BLASDispatch`), then runs the command with the arguments'
    /// exact bytes: a file name that is not UTF-8 reaches the commands intact (see `FilePath`)
    /// instead of being decoded with replacement characters.
    ///
    /// An error a command throws is printed here, once, as `genred: ` and what it says, and
    /// ends the process with its exit status (`GenredError.exitStatus`; 2 for any other error).
    /// The parser's own errors (help requested, validation) and `ExitCode` keep its handling.
    static func main() {
        BLASDispatch.fitToCPU()
        let arguments = (1..<Int(CommandLine.argc)).map { i -> String in
            guard let argument = CommandLine.unsafeArgv[i] else { return "" }
            return FilePath.string(UnsafeRawBufferPointer(start: argument, count: strlen(argument)))
        }
        var command: any ParsableCommand
        do { command = try parseAsRoot(arguments) } catch { exit(withError: error) }
        do {
            try command.run()
        } catch let error as any GenredError {
            printError("genred: \(error)")
            Foundation.exit(error.exitStatus)
        } catch let error where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // Help, validation and `ExitCode`: the parser prints and exits as it does.
            exit(withError: error)
        } catch {
            printError("genred: \(error)")
            Foundation.exit(2)
        }
    }
}

/// Every line the CLI prints goes through here, so that a path's carried bytes show as `\xNN`
/// (see `FilePath`); JSON output has none left by then (`JSONText` writes them as `\udcNN`).
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    Swift.print(FilePath.display(items.map { "\($0)" }.joined(separator: separator)), terminator: terminator)
}

/// Prints to standard error.
func printError(_ message: String) {
    var stderr = StandardError()
    Swift.print(message, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(FilePath.display(string).utf8))
    }
}

import Foundation

/// A command's own failure (nothing analysed yet, a file it cannot write): what it is about,
/// the whole message, and the exit status. `main` prints it once, as every `GenredError`.
struct CommandFailure: GenredError {
    let subject: String
    let reasonText: String
    let exitStatus: Int32
    /// `message` is printed as it is after `genred: `, so it names its subject itself.
    init(_ subject: String, _ message: String, status: Int32 = 1) {
        self.subject = subject
        reasonText = message
        exitStatus = status
    }
    /// Another error's message, with the exit status this command gives it.
    init(_ error: any Error, status: Int32) {
        subject = (error as? any GenredError)?.subject ?? ""
        reasonText = "\(error)"
        exitStatus = status
    }
    var description: String { reasonText }
}
