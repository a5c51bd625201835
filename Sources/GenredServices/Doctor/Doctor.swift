import CGenredLinux
import Foundation
import GenredEngine
import GenredLibrary

/// `genred doctor`: what is wrong with this installation, each problem with its fix.
///
/// Every check only reads: the config file, the model bundles, the database (opened read-only),
/// the roots, `/proc/sys/fs/inotify` and systemd's view of the unit. What the checks cannot see
/// from inside a test (the kernel's limits, free space, systemd, write access for another user)
/// comes through `Doctor.System`, so each problem can be made on purpose.
public struct Doctor: Sendable {
    /// One finding.
    public struct Check: Sendable, Equatable {
        public enum Status: String, Sendable {
            /// Nothing to do.
            case ok
            /// Worth knowing; nothing to fix.
            case note
            /// Something to fix: genred will fail or do less than it should.
            case problem
        }

        public var area: String
        public var status: Status
        public var detail: String
        /// What to do about it (problems only).
        public var fix: String?

        public init(area: String, status: Status, detail: String, fix: String? = nil) {
            self.area = area
            self.status = status
            self.detail = detail
            self.fix = fix
        }
    }

    /// What the checks read from the machine.
    public struct System: Sendable {
        public var inotify: InotifyLimits
        /// The inotify instances this user has open now; nil where it cannot be counted.
        public var inotifyInstancesInUse: @Sendable () -> Int?
        /// Free bytes on the file system holding `path`.
        public var freeBytes: @Sendable (_ path: String) -> Int64?
        /// Whether this process may write `path`.
        public var isWritable: @Sendable (_ path: String) -> Bool
        /// `systemctl is-enabled` and `is-active` for a unit; nil where systemd is not running.
        public var unitState: @Sendable (_ unit: String) -> (enabled: String, active: String)?
        /// One property of a unit as systemd has it (`systemctl show -p NAME --value`); nil where
        /// systemd is not running.
        public var unitProperty: @Sendable (_ unit: String, _ name: String) -> String?
        /// Whether oneDNN has a native kernel for a reduced precision in this process, and which.
        public var precisionKernel: @Sendable (Precision) -> (native: Bool, detail: String)
        /// Below this much free space next to the database, writes may fail.
        var minimumFreeBytes: Int64 = 1 << 30

        public init(inotify: InotifyLimits, inotifyInstancesInUse: @escaping @Sendable () -> Int?,
                    freeBytes: @escaping @Sendable (String) -> Int64?, isWritable: @escaping @Sendable (String) -> Bool,
                    unitState: @escaping @Sendable (String) -> (enabled: String, active: String)?,
                    unitProperty: @escaping @Sendable (String, String) -> String? = { _, _ in nil },
                    precisionKernel: @escaping @Sendable (Precision) -> (native: Bool, detail: String) = { Precision.kernel($0) }) {
            self.inotify = inotify
            self.inotifyInstancesInUse = inotifyInstancesInUse
            self.freeBytes = freeBytes
            self.isWritable = isWritable
            self.unitState = unitState
            self.unitProperty = unitProperty
            self.precisionKernel = precisionKernel
        }

        /// This machine as it is.
        public static var current: System {
            System(inotify: .current, inotifyInstancesInUse: { InotifyLimits.instancesInUse() },
                   freeBytes: { Doctor.freeBytes(at: $0) }, isWritable: { PathIO.access($0, W_OK) == 0 },
                   unitState: { Doctor.systemdUnitState($0) }, unitProperty: { Doctor.systemdUnitProperty($0, $1) })
        }
    }

    public var configPath: String?
    /// The store named on the command line, if any: it wins over the config's.
    public var storeOverride: String?
    public var system: System
    /// The unit whose state is reported.
    public var unit = "genred.service"

    public init(configPath: String?, storeOverride: String? = nil, system: System = .current) {
        self.configPath = configPath
        self.storeOverride = storeOverride
        self.system = system
    }

    /// Runs every check, in the order a person would fix things.
    public func run() -> [Check] {
        var checks: [Check] = []
        let configuration = checkConfig(&checks)
        checkModels(configuration, &checks)
        checkDatabase(configuration, &checks)
        checkRoots(configuration, &checks)
        checkPrecision(configuration, &checks)
        checks.append(Check(area: "blas", status: .note, detail: BLASDispatch.describe()))
        checkUnit(&checks)
        return checks
    }

    // MARK: The checks

    private func checkConfig(_ checks: inout [Check]) -> Configuration {
        let path = configPath ?? Configuration.searchPaths().first { FileManager.default.fileExists(atPath: $0) }
        guard let path else {
            checks.append(Check(area: "config", status: .note,
                                detail: "no config file (looked in \(Configuration.searchPaths().joined(separator: ", "))): the defaults apply"))
            return Configuration()
        }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            checks.append(Check(area: "config", status: .problem, detail: "\(path): cannot read: \(error.localizedDescription)",
                                fix: "make \(path) readable by this user, or name another with --config"))
            return Configuration()
        }
        do {
            let (configuration, unknown) = try Configuration.parseNamingUnknown(text, path: path)
            for problem in unknown {
                checks.append(Check(area: "config", status: .problem, detail: "\(problem)",
                                    fix: "remove or rename \(problem.key ?? "it") (a misspelt setting is ignored by no one: genred refuses the file)"))
            }
            if unknown.isEmpty { checks.append(Check(area: "config", status: .ok, detail: "\(path) parsed")) }
            return configuration
        } catch {
            checks.append(Check(area: "config", status: .problem, detail: "\(error)",
                                fix: "correct \(path) (every setting is explained in the example config, config/genred.toml)"))
            return Configuration()
        }
    }

    private func checkModels(_ configuration: Configuration, _ checks: inout [Check]) {
        var names = ModelBundle.builtInNames
        if !names.contains(configuration.model) { names.append(configuration.model) }
        for name in names {
            do {
                let bundle = try ModelBundle.load(name)
                checks.append(Check(area: "model", status: .ok,
                                    detail: "\(name) \(bundle.manifest.version): weights sha256 \(bundle.manifest.weights.sha256) verified"))
            } catch {
                let inUse = name == configuration.model
                checks.append(Check(area: "model", status: inUse ? .problem : .note, detail: "\(error)",
                                    fix: inUse ? "reinstall genred (the bundles live in /usr/share/genred/models), or set GENRED_MODELS to their folder" : nil))
            }
        }
    }

    private func checkDatabase(_ configuration: Configuration, _ checks: inout [Check]) {
        let path = storeOverride ?? configuration.database ?? LibraryStore.defaultPath()
        let location = StoreLocation(path)
        guard location.exists else {
            checks.append(Check(area: "database", status: .note,
                                detail: "\(location) does not exist yet: the first command that analyses creates it"))
            checkFreeSpace(near: location.localDirectory(), &checks)
            return
        }
        do {
            let store = try LibraryStore(path: path, readOnly: true)
            let integrity = try store.integrityCheck()
            let schema = try store.schemaVersion() ?? "none"
            if integrity == "ok" {
                checks.append(Check(area: "database", status: .ok, detail: "\(location): integrity ok, schema \(schema)"))
            } else {
                checks.append(Check(area: "database", status: .problem, detail: "\(location): integrity check: \(integrity)",
                                    fix: "stop the daemon, keep a copy of the file, and recover it with `sqlite3 \(path) .recover`; or move it aside and run `genred retag` on the roots again"))
            }
        } catch {
            let fix: String
            switch error.reason {
            case .newerThanBinary: fix = "install the genred that wrote it (or a newer one); this one leaves the database untouched"
            default: fix = location.isPostgres ? "check the server, the URL and the user's rights" : "run `genred migrate --db \(path)` as the database's owner, or check its permissions"
            }
            checks.append(Check(area: "database", status: .problem, detail: "\(error)", fix: fix))
        }
        checkFreeSpace(near: location.localDirectory(), &checks)
    }

    private func checkFreeSpace(near directory: String, _ checks: inout [Check]) {
        var existing = directory
        while !PathIO.exists(existing), existing != "/", !existing.isEmpty { existing = FilePath.parent(existing) }
        guard let free = system.freeBytes(existing) else { return }
        let shown = Self.bytes(free)
        if free < system.minimumFreeBytes {
            checks.append(Check(area: "disk", status: .problem,
                                detail: "\(shown) free on the file system of \(existing) (the database, and the tag writer's backups of the file being written)",
                                fix: "free at least \(Self.bytes(system.minimumFreeBytes)) there"))
        } else {
            checks.append(Check(area: "disk", status: .ok, detail: "\(shown) free on the file system of \(existing)"))
        }
    }

    private func checkRoots(_ configuration: Configuration, _ checks: inout [Check]) {
        guard !configuration.roots.isEmpty else {
            checks.append(Check(area: "roots", status: .problem, detail: "no roots: the daemon has no folders to keep tagged",
                                fix: "name your music folders in [library] roots of \(configuration.source ?? "the config file")"))
            return
        }
        var folders = 0
        var rootDevices: Set<UInt64> = []
        for root in configuration.roots {
            let path = FilePath.normalize(root)
            guard let info = PathIO.stat(path) else {
                checks.append(Check(area: "roots", status: .problem, detail: "\(path): does not exist",
                                    fix: "create it, mount its disk, or remove it from [library] roots"))
                continue
            }
            guard info.st_mode & S_IFMT == S_IFDIR else {
                checks.append(Check(area: "roots", status: .problem, detail: "\(path): not a folder",
                                    fix: "name the folder that holds the music in [library] roots"))
                continue
            }
            guard PathIO.access(path, R_OK | X_OK) == 0 else {
                checks.append(Check(area: "roots", status: .problem, detail: "\(path): not readable by this user",
                                    fix: "give the daemon's user read access (for the system service: the genred user)"))
                continue
            }
            rootDevices.insert(UInt64(info.st_dev))
            let survey = Self.survey(path, device: UInt64(info.st_dev), system: system)
            folders += survey.folders
            if survey.unwritable.isEmpty {
                checks.append(Check(area: "roots", status: .ok,
                                    detail: "\(path): readable, tags writable (\(survey.folders) folders, \(survey.files) files)"))
            } else {
                let sample = survey.unwritable.prefix(3).joined(separator: ", ")
                checks.append(Check(area: "roots", status: .problem,
                                    detail: "\(path): \(survey.unwritable.count) file(s) or folder(s) not writable by this user, e.g. \(sample)",
                                    fix: "give the daemon's user write access (for the system service: `chown -R genred` or a group with write access, and ReadWritePaths= in `systemctl edit genred`), or set [tags] to leave them alone"))
            }
            if !survey.otherFileSystems.isEmpty {
                checks.append(Check(area: "roots", status: .note,
                                    detail: "\(path): \(survey.otherFileSystems.count) folder(s) on another file system, watched and scanned all the same: \(survey.otherFileSystems.prefix(3).joined(separator: ", "))"))
            }
            if let fs = NetworkFileSystem.kind(of: path) {
                checks.append(Check(area: "roots", status: .note,
                                    detail: "\(path) is on a network file system (\(fs)): inotify sees no changes made elsewhere; the daemon relies on its rescans ([watch] rescan_interval)"))
            }
        }
        if rootDevices.count > 1 {
            checks.append(Check(area: "roots", status: .note, detail: "the roots are on \(rootDevices.count) file systems"))
        }
        checkInotify(folders: folders, &checks)
    }

    private func checkInotify(folders: Int, _ checks: inout [Check]) {
        let limits = system.inotify
        if let watches = limits.maxUserWatches {
            // Other programs of the same user (desktop indexers, editors) share the limit.
            let wanted = max(524_288, Self.roundedUp(folders * 2))
            if folders >= watches {
                checks.append(Check(area: "inotify", status: .problem,
                                    detail: "\(folders) folders under the roots, but fs.inotify.max_user_watches = \(watches): the daemon cannot watch them all",
                                    fix: Self.sysctlFix("fs.inotify.max_user_watches", wanted)))
            } else if folders * 10 >= watches * 9 {
                checks.append(Check(area: "inotify", status: .problem,
                                    detail: "\(folders) folders under the roots use \(folders * 100 / watches)% of fs.inotify.max_user_watches = \(watches), shared with every other program of this user",
                                    fix: Self.sysctlFix("fs.inotify.max_user_watches", wanted)))
            } else {
                checks.append(Check(area: "inotify", status: .ok,
                                    detail: "\(folders) folders under the roots; fs.inotify.max_user_watches = \(watches)"))
            }
        } else {
            checks.append(Check(area: "inotify", status: .note, detail: "fs.inotify.max_user_watches could not be read"))
        }
        if let instances = limits.maxUserInstances {
            let used = system.inotifyInstancesInUse()
            if let used, used >= instances {
                checks.append(Check(area: "inotify", status: .problem,
                                    detail: "this user has \(used) inotify instances open, fs.inotify.max_user_instances = \(instances): the daemon cannot start one",
                                    fix: Self.sysctlFix("fs.inotify.max_user_instances", max(1024, instances * 2))))
            } else {
                checks.append(Check(area: "inotify", status: .ok,
                                    detail: "fs.inotify.max_user_instances = \(instances)" + (used.map { " (\($0) in use by this user)" } ?? "")))
            }
        }
    }

    /// A reduced precision runs only where oneDNN has a native kernel for it, and oneDNN makes
    /// its kernels as it runs: a unit that forbids executable memory leaves the daemon in fp32.
    private func checkPrecision(_ configuration: Configuration, _ checks: inout [Check]) {
        let precision = configuration.precision
        guard precision != .fp32 else { return }
        let kernel = system.precisionKernel(precision)
        guard kernel.native else {
            checks.append(Check(area: "precision", status: .note,
                                detail: "precision \(precision): no native kernel on this CPU (\(kernel.detail)); analysis runs fp32"))
            return
        }
        if system.unitProperty(unit, "MemoryDenyWriteExecute") == "yes" {
            checks.append(Check(area: "precision", status: .problem,
                                detail: "precision \(precision): \(unit) has MemoryDenyWriteExecute=yes, which keeps oneDNN from making its kernels, so the daemon runs fp32",
                                fix: "`systemctl edit \(unit)` and add the lines `[Service]` and `MemoryDenyWriteExecute=no` (one safeguard fewer against a decoder bug), or set [analysis] precision = \"fp32\""))
            return
        }
        checks.append(Check(area: "precision", status: .ok,
                            detail: "precision \(precision): \(kernel.detail); analysis uses it where one window runs faster than in fp32, timed at start-up"))
    }

    private func checkUnit(_ checks: inout [Check]) {
        guard let state = system.unitState(unit) else {
            checks.append(Check(area: "service", status: .note, detail: "systemd is not running here: \(unit) not checked"))
            return
        }
        switch state.active {
        case "failed":
            checks.append(Check(area: "service", status: .problem, detail: "\(unit) is \(state.enabled) and failed",
                                fix: "read why with `journalctl -u \(unit) -n 50`, fix it, then `systemctl restart \(unit)`"))
        case "active", "activating", "reloading":
            checks.append(Check(area: "service", status: .ok, detail: "\(unit) is \(state.enabled) and \(state.active)"))
        default:
            checks.append(Check(area: "service", status: .note, detail: "\(unit) is \(state.enabled) and \(state.active)"))
        }
    }

    // MARK: Helpers

    /// Folders under `root` (each one inotify watch), files, what this user cannot write, and
    /// folders on another file system. Hidden names are skipped, as the scanner skips them.
    static func survey(_ root: String, device: UInt64, system: System) -> (folders: Int, files: Int, unwritable: [String], otherFileSystems: [String]) {
        var folders = 0, files = 0
        var unwritable: [String] = []
        var other: [String] = []
        var pending = [root]
        while let dir = pending.popLast() {
            folders += 1
            if !system.isWritable(dir) { unwritable.append(dir) }
            for entry in PathIO.entries(dir) ?? [] {
                let name = FilePath.string(entry.name)
                if LibraryScanner.isIgnoredName(name) { continue }
                let path = PathIO.join(dir, entry.name)
                guard let info = PathIO.lstat(path) else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    if UInt64(info.st_dev) != device { other.append(path) }
                    pending.append(path)
                case S_IFREG:
                    files += 1
                    if LibraryScanner.decodableExtensions.contains(LibraryScanner.pathExtension(path)), !system.isWritable(path) { unwritable.append(path) }
                default: break
                }
            }
        }
        return (folders, files, unwritable, other)
    }

    static func sysctlFix(_ key: String, _ value: Int) -> String {
        "run `sysctl \(key)=\(value)`, and keep it across reboots with the line `\(key)=\(value)` in /etc/sysctl.d/90-genred-inotify.conf"
    }

    static func roundedUp(_ n: Int) -> Int {
        var p = 1
        while p < n { p <<= 1 }
        return p
    }

    static func bytes(_ n: Int64) -> String {
        let gib = Double(n) / Double(1 << 30)
        return gib >= 1 ? String(format: "%.1f GiB", gib) : String(format: "%.0f MiB", Double(n) / Double(1 << 20))
    }

    static func freeBytes(at path: String) -> Int64? {
        var info = statvfs()
        guard FilePath.withCString(path, { statvfs($0, &info) }) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// Asks `systemctl`, where systemd runs.
    static func systemdUnitState(_ unit: String) -> (enabled: String, active: String)? {
        guard let enabled = systemctl(["is-enabled", unit]), let active = systemctl(["is-active", unit]) else { return nil }
        return (enabled.isEmpty ? "not installed" : enabled, active.isEmpty ? "unknown" : active)
    }

    static func systemdUnitProperty(_ unit: String, _ name: String) -> String? {
        systemctl(["show", "-p", name, "--value", unit])
    }

    /// `systemctl`'s trimmed output; nil where systemd is not running.
    private static func systemctl(_ arguments: [String]) -> String? {
        guard FileManager.default.fileExists(atPath: "/run/systemd/system") else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/systemctl")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension Doctor.Check {
    /// One JSON object: area, status, detail and fix (null when there is none).
    public var jsonObject: [String: Any] {
        ["area": area, "status": status.rawValue, "detail": detail, "fix": fix as Any? ?? NSNull()]
    }
}
