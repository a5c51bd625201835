import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

/// The decision from CPU features and the OpenBLAS core in use to keeping or switching it.
final class BLASDispatchTests: XCTestCase {
    private func decide(_ level: VectorLevel, _ core: String, vendor: String = "GenuineIntel",
                        dynamic: Bool = true, _ request: BLASDispatch.Request = .auto) -> BLASDispatch.Decision {
        BLASDispatch.decide(level: level, vendor: vendor, core: core, dynamicArch: dynamic, request: request)
    }

    private func switched(_ d: BLASDispatch.Decision) -> String? {
        if case .switchCore(let core, _) = d { return core }
        return nil
    }

    func testAGenericCoreOnAnAVX512CPUIsSwitchedToSkylakeX() {
        // The Sapphire Rapids case: OpenBLAS 0.3.21 does not know the model and says Prescott.
        XCTAssertEqual(switched(decide(.avx512, "Prescott")), "SkylakeX")
        XCTAssertEqual(switched(decide(.avx512, "Haswell")), "SkylakeX")
        XCTAssertEqual(switched(decide(.avx512, "Sandybridge")), "SkylakeX")
    }

    func testAGenericCoreOnAnAVX2CPUIsSwitchedByVendor() {
        XCTAssertEqual(switched(decide(.avx2, "Prescott")), "Haswell")
        XCTAssertEqual(switched(decide(.avx2, "Nehalem")), "Haswell")
        XCTAssertEqual(switched(decide(.avx2, "Prescott", vendor: "AuthenticAMD")), "Zen")
        XCTAssertEqual(switched(decide(.avx2, "Barcelona", vendor: "HygonGenuine")), "Zen")
    }

    func testAFittingCoreIsKept() {
        XCTAssertNil(switched(decide(.avx512, "SkylakeX")))
        XCTAssertNil(switched(decide(.avx512, "Cooperlake")))
        XCTAssertNil(switched(decide(.avx2, "Zen", vendor: "AuthenticAMD")))
        XCTAssertNil(switched(decide(.avx2, "Haswell", vendor: "AuthenticAMD")))
        XCTAssertNil(switched(decide(.avx, "Sandybridge")))
        XCTAssertNil(switched(decide(.sse, "Prescott")), "nothing better exists for an SSE-only CPU")
    }

    func testCoreNamesAreMatchedWithoutRegardToCase() {
        XCTAssertNil(switched(decide(.avx512, "SKYLAKEX")))
        XCTAssertEqual(switched(decide(.avx512, "prescott")), "SkylakeX")
        XCTAssertEqual(BLASDispatch.level(ofCore: "zen"), .avx2)
    }

    func testACoreThatNeedsMoreThanTheCPUHasIsReplaced() {
        // SkylakeX kernels on a CPU without AVX-512 would fault on the first GEMM.
        XCTAssertEqual(switched(decide(.avx2, "SkylakeX")), "Haswell")
    }

    func testAnUnknownCoreIsLeftAlone() {
        XCTAssertNil(switched(decide(.avx512, "Zen5")))
        XCTAssertNil(switched(decide(.avx2, "")))
    }

    func testNothingChangesWithoutDynamicArch() {
        XCTAssertNil(switched(decide(.avx512, "Prescott", dynamic: false)))
        XCTAssertNil(switched(decide(.avx512, "Prescott", dynamic: false, .core("SkylakeX"))))
    }

    func testOpenBLASRequestKeepsWhateverOpenBLASChose() {
        XCTAssertNil(switched(decide(.avx512, "Prescott", .openblas)))
    }

    func testAForcedCoreIsUsedWhenTheCPUCanRunIt() {
        XCTAssertEqual(switched(decide(.avx512, "Prescott", .core("Cooperlake"))), "Cooperlake")
        XCTAssertEqual(switched(decide(.avx2, "Zen", .core("Prescott"))), "Prescott", "a slower core may be forced")
        XCTAssertNil(switched(decide(.avx2, "Haswell", .core("haswell"))), "already in use")
        XCTAssertEqual(switched(decide(.avx512, "Haswell", .core("SomeFutureCore"))), "SomeFutureCore",
                       "names genred does not know are passed on to OpenBLAS")
    }

    func testAForcedCoreTheCPUCannotRunIsRefused() {
        let d = decide(.avx2, "Zen", .core("SkylakeX"))
        XCTAssertNil(switched(d))
        guard case .keep(let reason) = d else { return XCTFail("\(d)") }
        XCTAssertTrue(reason.contains("AVX-512"), reason)
    }

    func testRequestsAreParsedFromTheEnvironmentValue() {
        XCTAssertEqual(BLASDispatch.Request(nil), .auto)
        XCTAssertEqual(BLASDispatch.Request(""), .auto)
        XCTAssertEqual(BLASDispatch.Request("AUTO"), .auto)
        XCTAssertEqual(BLASDispatch.Request("OpenBLAS"), .openblas)
        XCTAssertEqual(BLASDispatch.Request(" SkylakeX "), .core("SkylakeX"))
    }

    func testVectorLevelNeedsAllFourAVX512Subsets() {
        func cpu(_ ext: [String]) -> CPUInfo {
            CPUInfo(vendor: "GenuineIntel", brand: "Intel(R) Xeon(R) Processor", family: 6, model: 143, stepping: 8, extensions: ext)
        }
        let avx2 = ["SSE3", "SSSE3", "SSE4.1", "SSE4.2", "AVX", "FMA", "AVX2"]
        XCTAssertEqual(cpu(avx2 + ["AVX512F", "AVX512DQ", "AVX512BW", "AVX512VL", "AMX-TILE"]).vectorLevel, .avx512)
        XCTAssertEqual(cpu(avx2 + ["AVX512F"]).vectorLevel, .avx2, "Knights Landing class: no BW/DQ/VL")
        XCTAssertEqual(cpu(avx2).vectorLevel, .avx2)
        XCTAssertEqual(cpu(["SSE3", "AVX", "FMA"]).vectorLevel, .avx)
        XCTAssertEqual(cpu(["SSE3", "SSE4.2"]).vectorLevel, .sse)
    }

    func testThisCPUIsIdentified() {
        let cpu = CPUInfo.current
        #if arch(x86_64)
        XCTAssertFalse(cpu.vendor.isEmpty)
        XCTAssertTrue(cpu.has("SSE3"), "every x86-64 CPU since 2004 has SSE3: \(cpu.extensions)")
        #endif
    }
}
