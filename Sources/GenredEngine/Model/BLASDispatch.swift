import COpenBLAS
import Foundation

/// Makes the network's GEMMs run with OpenBLAS kernels that fit the CPU.
///
/// A DYNAMIC_ARCH OpenBLAS picks its kernels ("core") by CPU model number when it loads.
/// On a model newer than the library it falls back to generic SSE kernels: Debian 12's
/// OpenBLAS 0.3.21 gives a Sapphire Rapids Xeon "Prescott", a third to a fifth of the speed
/// its AVX-512 kernels reach there. The choice is made in the library's constructor, before
/// `main`, from `OPENBLAS_CORETYPE`. So at start-up genred compares the core in use with
/// the vector instructions CPUID reports and, when they do not fit, sets
/// `OPENBLAS_CORETYPE` and executes itself again (`execv` keeps the process id, which a
/// systemd `Type=notify` service needs, and the arguments).
///
/// `GENRED_BLAS_CORE` controls this:
/// - unset or `auto`: correct a core that does not fit the CPU, whether OpenBLAS detected
///   it or `OPENBLAS_CORETYPE` asked for it;
/// - `openblas`: leave OpenBLAS's choice alone (its detection, or `OPENBLAS_CORETYPE`);
/// - a core name (`Haswell`, `SkylakeX`, `Zen`, `Prescott`, ...): use that core, unless
///   it needs vector instructions this CPU lacks.
public enum BLASDispatch {
    /// What `GENRED_BLAS_CORE` asks for.
    public enum Request: Equatable, Sendable {
        case auto
        case openblas
        case core(String)

        public init(_ value: String?) {
            let v = (value ?? "").trimmingCharacters(in: .whitespaces)
            switch v.lowercased() {
            case "", "auto": self = .auto
            case "openblas": self = .openblas
            default: self = .core(v)
            }
        }
    }

    public enum Decision: Equatable, Sendable {
        /// Run with the core in use; the reason is for `genred bench`.
        case keep(reason: String)
        /// Execute again with `OPENBLAS_CORETYPE` set to `core`.
        case switchCore(to: String, reason: String)
    }

    /// The vector level each OpenBLAS core's kernels need, by the names
    /// `openblas_get_corename()` reports (and `OPENBLAS_CORETYPE` accepts).
    static let coreLevels: [String: VectorLevel] = {
        var levels: [String: VectorLevel] = [:]
        for name in ["Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn",
                     "Dunnington", "Nehalem", "Opteron", "Opteron_SSE3", "Barcelona", "Bobcat", "Nano", "Unknown"] {
            levels[name.lowercased()] = .sse
        }
        for name in ["Sandybridge", "Bulldozer", "Piledriver", "Steamroller", "Excavator"] { levels[name.lowercased()] = .avx }
        for name in ["Haswell", "Zen"] { levels[name.lowercased()] = .avx2 }
        for name in ["SkylakeX", "Cooperlake", "SapphireRapids"] { levels[name.lowercased()] = .avx512 }
        return levels
    }()

    /// The vector level `core` needs, or nil for a name genred does not know.
    public static func level(ofCore core: String) -> VectorLevel? { coreLevels[core.lowercased()] }

    /// The core to ask for on a CPU of `level` from `vendor`, or nil where no core does
    /// better than the generic one.
    static func preferredCore(for level: VectorLevel, vendor: String) -> String? {
        switch level {
        case .avx512: "SkylakeX"
        case .avx2: vendor == "AuthenticAMD" || vendor == "HygonGenuine" ? "Zen" : "Haswell"
        case .avx: "Sandybridge"
        case .sse: nil
        }
    }

    /// Whether the core in use fits a CPU of `level`, and what to do if not.
    ///
    /// - Parameters:
    ///   - core: the core OpenBLAS is using (`openblas_get_corename()`).
    ///   - dynamicArch: whether this OpenBLAS holds kernels for several cores; one built
    ///     for a single core ignores `OPENBLAS_CORETYPE`.
    public static func decide(level: VectorLevel, vendor: String, core: String, dynamicArch: Bool,
                              request: Request) -> Decision {
        switch request {
        case .openblas:
            return .keep(reason: "GENRED_BLAS_CORE=openblas: OpenBLAS's own choice")
        case .core(let wanted):
            guard dynamicArch else { return .keep(reason: "this OpenBLAS has kernels for one core only; GENRED_BLAS_CORE=\(wanted) not applied") }
            if let needs = Self.level(ofCore: wanted), needs > level {
                return .keep(reason: "GENRED_BLAS_CORE=\(wanted) needs \(needs), which this CPU lacks (\(level)); not applied")
            }
            if wanted.lowercased() == core.lowercased() { return .keep(reason: "forced by GENRED_BLAS_CORE") }
            return .switchCore(to: wanted, reason: "forced by GENRED_BLAS_CORE")
        case .auto:
            guard dynamicArch else { return .keep(reason: "this OpenBLAS has kernels for one core only") }
            guard let coreLevel = Self.level(ofCore: core) else {
                return .keep(reason: "a core genred does not know; left as OpenBLAS chose it")
            }
            if coreLevel == level { return .keep(reason: "its \(coreLevel) kernels fit this CPU") }
            guard let better = preferredCore(for: level, vendor: vendor) else {
                return .keep(reason: "no core fits this CPU better")
            }
            if coreLevel > level {
                return .switchCore(to: better, reason: "\(core) needs \(coreLevel), which this CPU lacks")
            }
            return .switchCore(to: better, reason: "\(core) uses \(coreLevel) kernels; this CPU has \(level)")
        }
    }

    /// Set in the environment of the re-executed process: the core the first one had, so
    /// that the new process neither tries again (whatever OpenBLAS does with the request)
    /// nor forgets what happened.
    static let markerVariable = "GENRED_BLAS_CORE_BEFORE_EXEC"

    /// The core OpenBLAS had chosen before this process re-executed itself to change it;
    /// nil when it did not. Read once, and the marker is removed from the environment so
    /// that programs this one starts decide for themselves.
    static let coreBeforeExec: String? = {
        guard let value = getenv(markerVariable) else { return nil }
        let core = String(cString: value)
        unsetenv(markerVariable)
        return core
    }()

    /// The core OpenBLAS is using in this process.
    static var coreInUse: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// OpenBLAS's build description ("OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ...").
    public static var configuration: String { openblas_get_config().map { String(cString: $0) } ?? "" }

    /// The decision for this process as it stands now.
    static func currentDecision(cpu: CPUInfo = .current) -> Decision {
        decide(level: cpu.vectorLevel, vendor: cpu.vendor, core: coreInUse,
               dynamicArch: configuration.contains("DYNAMIC_ARCH"),
               request: Request(getenv("GENRED_BLAS_CORE").map { String(cString: $0) }))
    }

    /// The start-up hook: call it first thing in `main`, before genred starts threads or
    /// opens files of its own (OpenBLAS's idle thread pool is the only other thread then).
    /// Returns when the core in use fits (or cannot be changed); otherwise replaces the
    /// process image and does not return. If `execv` fails, carries on with the core it has.
    public static func fitToCPU() {
        if coreBeforeExec != nil { return }  // already re-executed once: never loop
        guard case .switchCore(let core, _) = currentDecision() else { return }
        let previous = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(markerVariable, coreInUse, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Still here: the exec failed (no /proc, say). Undo and keep the kernels we have.
        if let previous { setenv("OPENBLAS_CORETYPE", previous, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
        unsetenv(markerVariable)
    }

    /// One line for `genred bench`: the core in use and how it came to be.
    public static func describe(cpu: CPUInfo = .current) -> String {
        let core = coreInUse
        let level = Self.level(ofCore: core).map { "\($0) kernels" } ?? "kernels genred does not know"
        var line = "OpenBLAS core \(core) (\(level))"
        if let before = coreBeforeExec, before.lowercased() != core.lowercased() {
            line += "; OpenBLAS first chose \(before), genred switched"
        }
        switch currentDecision(cpu: cpu) {
        case .keep(let reason): line += "; \(reason)"
        case .switchCore(let to, let reason): line += "; \(reason), but switching to \(to) did not take"
        }
        return line
    }
}
