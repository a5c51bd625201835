import Foundation
import GenredKit
import XCTest

/// The start-up check of the OpenBLAS kernels, through the built binary: OpenBLAS picks its
/// core before `main`, so only a new process shows what genred made of it.
final class BLASDispatchCommandTests: XCTestCase {
    /// Runs `genred bench machine` with `environment` added (and any inherited setting of the
    /// two variables removed); returns the core named on the "blas" line and the line.
    private func coreInUse(_ environment: [String: String]) throws -> (core: String, line: String) {
        let run = try benchMachine(environment)
        return (run.core, run.line)
    }

    /// `genred bench machine`'s output with `environment` added, and its "blas" line's core.
    /// `prefix`: a command that runs genred (its path, then the arguments, follow it).
    private func benchMachine(_ environment: [String: String], prefix: [String] = []) throws -> (stdout: String, core: String, line: String) {
        var binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("genred")
        if !FileManager.default.fileExists(atPath: binary.path) { binary = Bundle.main.bundleURL.appendingPathComponent("genred") }
        let process = Process()
        process.executableURL = prefix.isEmpty ? binary : URL(fileURLWithPath: prefix[0])
        process.arguments = Array(prefix.dropFirst()) + (prefix.isEmpty ? [] : [binary.path]) + ["bench", "machine", "--threads", "1"]
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = nil
        env["GENRED_BLAS_CORE"] = nil
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, stderr)
        XCTAssertTrue(stdout.contains("cpu "), "the arguments survive the re-execution: \(stdout)")
        // The reduced precisions' peaks: measured where the CPU has the instructions, else said.
        for (precision, flag) in [("bf16", "AVX512_BF16"), ("int8", "VNNI")] {
            let peak = try XCTUnwrap(stdout.split(separator: "\n").first { $0.hasPrefix("\(precision) peak ") }, stdout)
            let measured = CPUInfo.current.extensions.contains { $0.contains(flag) }
            XCTAssertEqual(peak.contains("GOP/s on 1 threads"), measured, String(peak))
            XCTAssertEqual(peak.contains("no dot-product loop"), !measured, String(peak))
        }
        let line = try XCTUnwrap(stdout.split(separator: "\n").first { $0.hasPrefix("blas ") }, stdout)
        let words = line.split(separator: " ")
        let core = try XCTUnwrap(words.firstIndex(of: "core").map { String(words[$0 + 1]) }, String(line))
        return (stdout, core, String(line))
    }

    func testWhereMemoryMayNotBecomeCodeThePeakLinesSaySo() throws {
        // The kernel's memory-deny-write-execute (PR_SET_MDWE, Linux 6.3), which is what systemd's
        // MemoryDenyWriteExecute=yes amounts to: oneDNN cannot make its kernels.
        let python = "/usr/bin/python3"
        let probe = try AnalyzeCommandTests.run(URL(fileURLWithPath: python),
                                                ["-c", "import ctypes,sys; sys.exit(0 if ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) == 0 else 1)"])
        guard probe.status == 0 else { throw XCTSkip("this kernel has no PR_SET_MDWE") }
        let wrapper = [python, "-c", "import ctypes,os,sys; ctypes.CDLL(None).prctl(65, 1, 0, 0, 0); os.execv(sys.argv[1], sys.argv[1:])"]
        let (stdout, _, _) = try benchMachine([:], prefix: wrapper)
        let peak = try XCTUnwrap(stdout.split(separator: "\n").first { $0.hasPrefix("int8 peak ") }, stdout)
        XCTAssertTrue(peak.contains("oneDNN has no native kernel for it") && peak.contains("may not make memory executable (MemoryDenyWriteExecute=yes"),
                      String(peak))
    }

    func testThePeakLinesSayWhatOneDNNRuns() throws {
        // Capped to AVX2, oneDNN has neither bf16 nor int8 dot products, whatever the CPU's peaks.
        let (stdout, _, _) = try benchMachine(["ONEDNN_MAX_CPU_ISA": "AVX2"])
        for precision in ["bf16", "int8"] {
            let peak = try XCTUnwrap(stdout.split(separator: "\n").first { $0.hasPrefix("\(precision) peak ") }, stdout)
            XCTAssertTrue(peak.contains("; oneDNN has no native kernel for it: oneDNN on AVX2"), String(peak))
        }
    }

    /// The CPU's level, or a skip where no core beats Prescott or OpenBLAS cannot switch.
    private func levelAbovePrescott() throws -> VectorLevel {
        let level = CPUInfo.current.vectorLevel
        guard level > .sse, BLASDispatch.configuration.contains("DYNAMIC_ARCH") else {
            throw XCTSkip("needs an AVX CPU and a DYNAMIC_ARCH OpenBLAS (have \(level), \(BLASDispatch.configuration))")
        }
        return level
    }

    func testAGenericCoreIsReplacedByOneThatFitsTheCPU() throws {
        // What an unrecognised CPU model gets from OpenBLAS, simulated.
        let level = try levelAbovePrescott()
        let (core, line) = try coreInUse(["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertNotEqual(core, "Prescott", line)
        XCTAssertEqual(BLASDispatch.level(ofCore: core), level, line)
        XCTAssertTrue(line.contains("OpenBLAS first chose Prescott"), line)
    }

    func testOpenBLASOwnChoiceIsKeptWhenAsked() throws {
        _ = try levelAbovePrescott()
        let (core, line) = try coreInUse(["OPENBLAS_CORETYPE": "Prescott", "GENRED_BLAS_CORE": "openblas"])
        XCTAssertEqual(core, "Prescott", line)
    }

    func testAUserForcedCoreIsUsed() throws {
        _ = try levelAbovePrescott()
        let (core, line) = try coreInUse(["GENRED_BLAS_CORE": "Prescott"])
        XCTAssertEqual(core, "Prescott", line)
        XCTAssertTrue(line.contains("forced by GENRED_BLAS_CORE"), line)
    }

    func testWithoutSettingsTheCoreFitsTheCPU() throws {
        let level = try levelAbovePrescott()
        let (core, line) = try coreInUse([:])
        XCTAssertEqual(BLASDispatch.level(ofCore: core), level, line)
    }
}
