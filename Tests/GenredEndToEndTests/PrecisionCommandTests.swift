import Foundation
import XCTest

/// bf16 from the command line, where it is measured (`genred bench precision`): where oneDNN
/// has a native kernel it runs; where it has none (capped here with oneDNN's own
/// ONEDNN_MAX_CPU_ISA) it falls back to fp32, said once, and there is nothing to compare.
final class PrecisionCommandTests: XCTestCase {
    private let clip = AnalyzeCommandTests.audio.appendingPathComponent("rock.wav").path

    private func genred(_ arguments: [String], isa: String? = nil) throws -> AnalyzeCommandTests.Run {
        guard let isa else { return try AnalyzeCommandTests.genred(arguments) }
        let (status, out, err) = try AnalyzeCommandTests.run(URL(fileURLWithPath: "/usr/bin/env"),
                                                             ["ONEDNN_MAX_CPU_ISA=\(isa)", AnalyzeCommandTests.binary.path] + arguments)
        return .init(status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }

    func testWithoutANativeKernelBF16FallsBackAndSaysSo() throws {
        for isa in ["AVX2", "AVX512_CORE"] {
            let capped = try genred(["bench", "precision", clip], isa: isa)
            XCTAssertEqual(capped.status, 2, "\(isa): \(capped.stdout) \(capped.stderr)")
            XCTAssertTrue(capped.stdout.contains("bf16: falls back to fp32"), capped.stdout)
            let warnings = capped.stderr.split(separator: "\n").filter { $0.contains("precision bf16: no native bf16 kernel") }
            XCTAssertEqual(warnings.count, 1, capped.stderr)
            XCTAssertTrue(capped.stderr.contains("nothing to compare"), capped.stderr)
        }
    }

    /// oneDNN's int8 kernels without a dot-product instruction sum u8 × s8 pairs in 16 bits, which
    /// saturates (on a Zen 3: embeddings at a cosine of 0.40 from fp32's), and are slower than fp32:
    /// capped below VNNI, and on a CPU without one, int8 falls back, saying why.
    func testWithoutADotProductInt8FallsBackAndSaysWhy() throws {
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let dotProduct = [" avx512_vnni", " avx_vnni", " amx_int8"].contains { flags.contains($0) }
        for isa in ["AVX2", "AVX512_CORE"] + (dotProduct ? [] : [nil]) {
            let run = try genred(["bench", "precision", "--precision", "int8", clip], isa: isa)
            XCTAssertEqual(run.status, 2, "\(isa ?? "uncapped"): \(run.stdout) \(run.stderr)")
            XCTAssertTrue(run.stdout.contains("int8: falls back to fp32"), run.stdout)
            let warnings = run.stderr.split(separator: "\n").filter { $0.contains("precision int8: no native int8 kernel") }
            XCTAssertEqual(warnings.count, 1, run.stderr)
            XCTAssertTrue(warnings.first?.contains("no int8 dot product (VNNI or AMX)") == true, run.stderr)
            XCTAssertTrue(warnings.first?.contains("saturates") == true, run.stderr)
        }
    }

    func testBF16IsComparedWithFP32WhereTheCPUHasIt() throws {
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        guard flags.contains(" avx512_bf16") || flags.contains(" amx_bf16") else {
            let run = try genred(["bench", "precision", clip])
            XCTAssertEqual(run.status, 2, run.stderr)
            return
        }
        let run = try genred(["bench", "precision", "--tracks", clip])
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains("bf16: runs"), run.stdout)
        let line = try XCTUnwrap(run.stdout.split(separator: "\n").first { $0.hasPrefix(clip) })
        XCTAssertTrue(line.contains("top5 same") && line.contains("tags same"), String(line))
        XCTAssertTrue(run.stdout.contains("bf16 meets the targets on 1 tracks"), run.stdout)
    }

    func testAnalysisRunsInBF16OnlyWhereItPaysAndSaysWhyNot() throws {
        let other = AnalyzeCommandTests.audio.appendingPathComponent("ballad.wav").path
        let fp32 = try genred(["analyze", "--json", clip, other])
        XCTAssertEqual(fp32.status, 0, fp32.stderr)
        for isa in [nil, "AVX2"] {
            let run = try genred(["analyze", "--json", "--precision", "bf16", clip, other], isa: isa)
            XCTAssertEqual(run.status, 0, run.stderr)
            let notes = run.stderr.split(separator: "\n").filter { $0.contains("precision bf16:") }
            XCTAssertLessThanOrEqual(notes.count, 1, "said once at most: \(run.stderr)")
            if let note = notes.first {
                // It fell back: fp32's output, to the bit, and the reason.
                XCTAssertTrue(note.contains("running fp32"), String(note))
                XCTAssertTrue(note.contains("no native bf16 kernel") || note.contains("not faster"), String(note))
                XCTAssertEqual(run.stdout, fp32.stdout)
                XCTAssertTrue(run.stdout.contains("\"precision\": \"fp32\""), run.stdout)
            } else {
                XCTAssertNil(isa, "capped to AVX2 it cannot run bf16")
                XCTAssertEqual(run.stdout.split(separator: "\n").count, 2)
                XCTAssertTrue(run.stdout.contains("\"precision\": \"bf16\""), run.stdout)
            }
        }
        let capped = try genred(["analyze", "--precision", "bf16", clip], isa: "AVX2")
        XCTAssertTrue(capped.stderr.contains("precision bf16: no native bf16 kernel"), capped.stderr)
    }

    func testTheLibraryKeepsThePrecisionThatRan() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("genred-precision-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let music = dir.appendingPathComponent("music")
        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
        let copy = music.appendingPathComponent("rock.wav").path
        try FileManager.default.copyItem(atPath: clip, toPath: copy)
        let db = dir.appendingPathComponent("library.sqlite").path
        // bf16 asked for, on a CPU (capped) without a native kernel: fp32 runs, and the row says fp32.
        let run = try genred(["retag", "--dry-run", "--precision", "bf16", "--db", db, music.path], isa: "AVX2")
        XCTAssertEqual(run.status, 0, run.stderr)
        let shown = try genred(["show", "--json", "--db", db, copy])
        let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any], shown.stderr)
        XCTAssertEqual(o["precision"] as? String, "fp32")
        XCTAssertTrue(try genred(["show", "--db", db, copy]).stdout.contains(" in fp32"))
    }

    func testPrecisionsThatMissTheTargetsAreRefused() throws {
        for (name, why) in [("bf16-plain", "not offered"), ("int8", "not offered"), ("fp16", "must be one of fp32, bf16")] {
            let run = try genred(["analyze", "--precision", name, clip])
            XCTAssertEqual(run.status, 64, run.stderr)
            XCTAssertTrue(run.stderr.contains("--precision") && run.stderr.contains(why), run.stderr)
        }
        for command in [["retag"], ["watch"], ["worker"], ["analyze"]] {
            let help = try genred(command + ["--help"])
            XCTAssertTrue(help.stdout.contains("--precision <fp32|bf16>"), "\(command): \(help.stdout)")
        }
    }
}
