import Foundation
import GenredKit
import GenredTestSupport
import XCTest

/// A private MPD for a test class: its own music folder, database, state file and unix socket
/// in a temporary folder, and a null audio output. `mpd` and `mpc` must be installed (Debian
/// packages `mpd` and `mpc`); when they are not, starting fails, so the tests fail.
final class MPDServer {
    let dir: URL
    let music: URL
    var socket: String { dir.appendingPathComponent("socket").path }
    private var process: Process?

    /// With `password`, only reading is allowed without it.
    init(dir: URL, password: String? = nil) throws {
        self.dir = dir
        music = dir.appendingPathComponent("music")
        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("playlists"), withIntermediateDirectories: true)
        let config = """
            music_directory "\(music.path)"
            playlist_directory "\(dir.appendingPathComponent("playlists").path)"
            db_file "\(dir.appendingPathComponent("database").path)"
            state_file "\(dir.appendingPathComponent("state").path)"
            bind_to_address "\(socket)"
            zeroconf_enabled "no"
            \(password.map { "password \"\($0)@read,add,control,admin\"\ndefault_permissions \"read\"" } ?? "")
            audio_output {
                type "null"
                name "null"
                mixer_type "none"
            }

            """
        try config.write(to: dir.appendingPathComponent("mpd.conf"), atomically: true, encoding: .utf8)
    }

    /// Starts MPD and waits until its socket answers.
    func start() throws {
        guard let mpd = TestAudio.which("mpd"), TestAudio.which("mpc") != nil else {
            throw TestAudio.Failure(description: "mpd and mpc are needed for these tests (apt-get install mpd mpc)")
        }
        let p = Process()
        p.executableURL = mpd
        p.arguments = ["--no-daemon", "--stderr", dir.appendingPathComponent("mpd.conf").path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: logFile())
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if (try? mpc(["status"]))?.status == 0 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestAudio.Failure(description: "mpd did not answer on \(socket) within 15 s: \(String(decoding: (try? Data(contentsOf: logFile())) ?? Data(), as: UTF8.self))")
    }

    private func logFile() throws -> URL {
        let log = dir.appendingPathComponent("mpd.log")
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        return log
    }

    /// Kills MPD without letting it save anything (SIGKILL), and waits for it to end.
    func kill() {
        guard let p = process else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
        unlink(socket)
    }

    /// Ends MPD (SIGTERM).
    func stop() {
        guard let p = process else { return }
        p.terminate()
        p.waitUntilExit()
        process = nil
    }

    /// Runs `mpc` against this MPD.
    @discardableResult
    func mpc(_ arguments: [String]) throws -> (status: Int32, stdout: Data, stderr: Data) {
        try AnalyzeCommandTests.run(TestAudio.which("mpc")!, ["-h", socket] + arguments)
    }

    /// Rescans the music folder and waits for the scan to end.
    func update() throws {
        let r = try mpc(["update", "--wait"])
        guard r.status == 0 else { throw TestAudio.Failure(description: "mpc update failed: \(String(decoding: r.stderr, as: UTF8.self))") }
    }

    /// The queue's files, as MPD's exact bytes.
    func queue() throws -> [[UInt8]] {
        let r = try mpc(["playlist", "-f", "%file%"])
        return Array(r.stdout).split(separator: UInt8(ascii: "\n")).map(Array.init)
    }

    /// The queue's files, as paths (`FilePath` strings).
    func queuePaths() throws -> [String] { try queue().map { FilePath.string($0) } }

    /// Empties the queue and adds `files` (relative to the music folder).
    func setQueue(_ files: [String]) throws {
        try mpc(["-q", "clear"])
        for f in files {
            let r = try mpc(["-q", "add", f])
            guard r.status == 0 else { throw TestAudio.Failure(description: "mpc add \(f) failed: \(String(decoding: r.stderr, as: UTF8.self))") }
        }
    }
}
