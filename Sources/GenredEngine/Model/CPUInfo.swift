import CGenredLinux

/// The widest vector instructions a CPU can run, as far as the network's GEMMs care.
public enum VectorLevel: Int, Sendable, Comparable, CustomStringConvertible {
    /// SSE only (no AVX, or an OS that does not save the AVX registers).
    case sse
    /// 256-bit AVX without FMA or AVX2.
    case avx
    /// AVX2 and FMA (Haswell, Zen and later).
    case avx2
    /// AVX-512 F, DQ, BW and VL (Skylake-SP, Ice Lake, Sapphire Rapids, Zen 4 and later).
    case avx512

    public static func < (a: VectorLevel, b: VectorLevel) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .sse: "SSE"
        case .avx: "AVX"
        case .avx2: "AVX2+FMA"
        case .avx512: "AVX-512"
        }
    }
}

/// The processor genred runs on, read with CPUID (not from the model number, which
/// libraries only recognise for the models that existed when they were built).
public struct CPUInfo: Sendable, Equatable {
    public var vendor: String
    /// The brand string, e.g. "AMD EPYC 7B13" (virtual machines may shorten it).
    public var brand: String
    package var family: Int
    public var model: Int
    var stepping: Int
    /// Instruction-set extensions present and enabled by the OS, in the order of `allExtensions`.
    public var extensions: [String]

    /// The extension names `extensions` can hold, oldest first.
    static let allExtensions = [
        "SSE3", "SSSE3", "SSE4.1", "SSE4.2", "AVX", "FMA", "AVX2",
        "AVX512F", "AVX512DQ", "AVX512BW", "AVX512VL", "AVX512_BF16", "AVX512_FP16", "AVX512_VNNI", "AVX_VNNI",
        "AMX-TILE", "AMX-BF16", "AMX-INT8",
    ]

    public init(vendor: String, brand: String, family: Int, model: Int, stepping: Int, extensions: [String]) {
        self.vendor = vendor
        self.brand = brand
        self.family = family
        self.model = model
        self.stepping = stepping
        self.extensions = extensions
    }

    /// The CPU this process runs on.
    public static let current: CPUInfo = {
        var c = genred_cpu()
        genred_cpu_identify(&c)
        let flags: [Int32] = [
            c.sse3, c.ssse3, c.sse4_1, c.sse4_2, c.avx, c.fma, c.avx2,
            c.avx512f, c.avx512dq, c.avx512bw, c.avx512vl, c.avx512_bf16, c.avx512_fp16, c.avx512_vnni, c.avx_vnni,
            c.amx_tile, c.amx_bf16, c.amx_int8,
        ]
        let present = zip(allExtensions, flags).filter { $0.1 != 0 }.map(\.0)
        let vendor = withUnsafeBytes(of: c.vendor) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let brand = withUnsafeBytes(of: c.brand) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return CPUInfo(vendor: vendor, brand: brand.trimmingTrailingSpaces, family: Int(c.family), model: Int(c.model),
                       stepping: Int(c.stepping), extensions: present)
    }()

    public func has(_ name: String) -> Bool { extensions.contains(name) }

    /// The widest vectors this CPU runs. AVX-512 counts only with the four subsets every
    /// AVX-512 GEMM kernel in use assumes.
    public var vectorLevel: VectorLevel {
        if ["AVX512F", "AVX512DQ", "AVX512BW", "AVX512VL"].allSatisfy(has) { return .avx512 }
        if has("AVX2") && has("FMA") { return .avx2 }
        if has("AVX") { return .avx }
        return .sse
    }

    /// "AMD EPYC (AuthenticAMD family 25 model 1)".
    public var summary: String {
        let name = brand.isEmpty ? "unknown CPU" : brand
        return vendor.isEmpty ? name : "\(name) (\(vendor) family \(family) model \(model))"
    }
}

extension String {
    fileprivate var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
