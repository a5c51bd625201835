import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import GenredKit
@testable import GenredLibrary

final class MapRenderTests: XCTestCase {
    private let genres = ["rock", "jazz", "hip-hop"]
    private let hostile = "</script><b>&\"'"

    private var points: [MapPoint] {
        [
            MapPoint(path: "/music/a,b/01 \"Intro\".flac", title: "Hello, \"World\"", artist: "Ünïcødé 日本語",
                     album: "Line\nBreak\r\nAlbum", x: 1.5, y: -2.25, topGenre: "rock", genreScores: [0.7, 0.2, 0.1]),
            MapPoint(path: "/music/plain.mp3", title: nil, artist: "Björk", album: nil,
                     x: -0.125, y: 3, topGenre: "jazz", genreScores: [0.1, 0.8, 0.1]),
            MapPoint(path: "/music/x.ogg", title: hostile, artist: "<img src=x onerror=alert(1)>", album: "a&b",
                     x: 0, y: 0, topGenre: "hip-hop", genreScores: [0.05, 0.05, 0.9]),
        ]
    }

    /// A strict RFC 4180 reader: CRLF records, quoted fields with doubled quotes.
    private func parseCSV(_ text: String) throws -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var scalars = Array(text.unicodeScalars)[...]
        var quoted = false
        while let c = scalars.popFirst() {
            if quoted {
                if c == "\"" {
                    if scalars.first == "\"" { scalars.removeFirst(); field.unicodeScalars.append("\"") } else { quoted = false }
                } else {
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" {
                guard field.isEmpty else { throw CocoaError(.fileReadCorruptFile) }
                quoted = true
            } else if c == "," {
                record.append(field); field = ""
            } else if c == "\r" {
                guard scalars.popFirst() == "\n" else { throw CocoaError(.fileReadCorruptFile) }
                record.append(field); field = ""
                records.append(record); record = []
            } else if c == "\n" {
                throw CocoaError(.fileReadCorruptFile)  // bare LF outside quotes
            } else {
                field.unicodeScalars.append(c)
            }
        }
        XCTAssertFalse(quoted)
        XCTAssertTrue(field.isEmpty && record.isEmpty, "last record ends with CRLF")
        return records
    }

    func testCSVRoundTripsThroughAnRFC4180Parser() throws {
        let text = MapWriter.csv(points, genreNames: genres)
        XCTAssertTrue(text.hasSuffix("\r\n"))
        let rows = try parseCSV(text)
        XCTAssertEqual(rows.count, 4)
        XCTAssertEqual(rows[0], ["path", "title", "artist", "album", "x", "y", "top_genre", "rock", "jazz", "hip-hop"])
        for (row, point) in zip(rows.dropFirst(), points) {
            XCTAssertEqual(row.count, 10)
            XCTAssertEqual(row[0], point.path)
            XCTAssertEqual(row[1], point.title ?? "")
            XCTAssertEqual(row[2], point.artist ?? "")
            XCTAssertEqual(row[3], point.album ?? "")
            XCTAssertEqual(Float(row[4]), point.x)
            XCTAssertEqual(Float(row[5]), point.y)
            XCTAssertEqual(row[6], point.topGenre)
            XCTAssertEqual(row[7...].map { Float($0)! }, point.genreScores)
        }
        XCTAssertTrue(text.contains("\"Hello, \"\"World\"\"\""))
        XCTAssertEqual(MapWriter.csv([], genreNames: []), "path,title,artist,album,x,y,top_genre\r\n")
    }

    func testSVGEscapesTextAndStaysOffline() throws {
        let svg = MapWriter.svg(points, genreNames: genres, title: "Map " + hostile)
        XCTAssertFalse(svg.contains("</script>"))
        XCTAssertFalse(svg.contains("<b>"))
        XCTAssertFalse(svg.contains("<img"))
        XCTAssertTrue(svg.contains("&lt;/script&gt;&lt;b&gt;&amp;&quot;&#39;"))
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 3)
        XCTAssertEqual(svg.components(separatedBy: "<title>").count - 1, 4)  // document + one per point
        assertNoNetwork(svg.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: ""))
        // Well-formed XML.
        let parser = XMLParser(data: Data(svg.utf8))
        XCTAssertTrue(parser.parse(), parser.parserError.map { "\($0)" } ?? "")
    }

    func testHTMLEscapesTextAndEmbedsSafeJSON() throws {
        let html = MapWriter.html(points, genreNames: genres, title: "Map " + hostile)
        assertNoNetwork(html)
        XCTAssertEqual(html.components(separatedBy: "</script>").count - 1, 2, "only the two closing tags of the page")
        XCTAssertFalse(html.contains("<b>"))
        XCTAssertFalse(html.contains("<img"))
        XCTAssertFalse(html.lowercased().contains("<script src"))
        XCTAssertTrue(html.contains("<title>Map &lt;/script&gt;&lt;b&gt;&amp;&quot;&#39;</title>"))
        // The data block parses as JSON and gives back the hostile strings verbatim.
        let start = try XCTUnwrap(html.range(of: "<script type=\"application/json\" id=\"map-data\">"))
        let end = try XCTUnwrap(html.range(of: "</script>", range: start.upperBound..<html.endIndex))
        let block = String(html[start.upperBound..<end.lowerBound])
        XCTAssertFalse(block.contains("<"))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(block.utf8)) as? [String: Any])
        XCTAssertEqual(object["title"] as? String, "Map " + hostile)
        let rows = try XCTUnwrap(object["points"] as? [[Any]])
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows[2][3] as? String, hostile)
        XCTAssertEqual(rows[2][4] as? String, "<img src=x onerror=alert(1)>")
        XCTAssertEqual(rows[0][5] as? String, "Line\nBreak\r\nAlbum")
        XCTAssertEqual(object["genres"] as? [String], ["hip-hop", "jazz", "rock"])
    }

    func testPaletteColoursAreDistinctAndOverflowIsGrey() {
        XCTAssertEqual(Set(MapWriter.palette).count, 20)
        XCTAssertFalse(MapWriter.palette.contains(MapWriter.otherColour))
        let many = (0..<25).map { MapPoint(path: "/\($0)", x: Float($0), y: 0, topGenre: "g\($0)", genreScores: []) }
        let svg = MapWriter.svg(many, genreNames: [], title: "t")
        XCTAssertEqual(svg.components(separatedBy: "fill=\"\(MapWriter.otherColour)\"").count - 1, 10)  // 5 circles + 5 swatches
    }

    private func assertNoNetwork(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(text.contains("http://"), file: file, line: line)
        XCTAssertFalse(text.contains("https://"), file: file, line: line)
        XCTAssertFalse(text.contains("//cdn"), file: file, line: line)
    }
}
