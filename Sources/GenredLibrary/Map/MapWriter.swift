import Foundation
import GenredEngine

/// One track placed on the map.
public struct MapPoint: Sendable, Equatable {
    public var path: String
    public var title: String?
    public var artist: String?
    public var album: String?
    public var x: Float
    public var y: Float
    public var topGenre: String
    /// Aligned with the writer's `genreNames`.
    var genreScores: [Float]

    public init(path: String, title: String? = nil, artist: String? = nil, album: String? = nil,
                x: Float, y: Float, topGenre: String, genreScores: [Float]) {
        self.path = path
        self.title = title
        self.artist = artist
        self.album = album
        self.x = x
        self.y = y
        self.topGenre = topGenre
        self.genreScores = genreScores
    }
}

/// Renders a map as CSV, SVG or a self-contained HTML page.
public enum MapWriter {
    /// Distinct colours for the most common top genres, most common first; the rest are `otherColour`.
    public static let palette = [
        "#2b6cb0", "#e76f00", "#2f9e44", "#d62839", "#7b4bc4", "#8c5a3c", "#e05fa8", "#0f9aa8", "#b8a300", "#63a4ff",
        "#ffb347", "#8fd18b", "#ff8a8a", "#c5a3ff", "#d2a679", "#ffb3d9", "#1b4965", "#556b2f", "#9b2226", "#5a189a",
    ]
    static let otherColour = "#a0a0a0"

    // MARK: CSV

    /// RFC 4180 CSV in UTF-8 (no byte-order mark) with CRLF line ends: header `path,title,artist,album,x,y,
    /// top_genre,<genre names…>`; a field holding a comma, quote, CR or LF is quoted with quotes doubled;
    /// missing tags are empty fields; numbers use the shortest form that reads back exactly.
    /// `extra` adds a last column (a taxonomy's labels, say), one value per point.
    public static func csv(_ points: [MapPoint], genreNames: [String], extra: (header: String, values: [String])? = nil) -> String {
        var out = ""
        let header = ["path", "title", "artist", "album", "x", "y", "top_genre"] + genreNames + (extra.map { [$0.header] } ?? [])
        out += header.map(csvField).joined(separator: ",") + "\r\n"
        for (i, point) in points.enumerated() {
            var fields = [point.path, point.title ?? "", point.artist ?? "", point.album ?? "",
                          "\(point.x)", "\(point.y)", point.topGenre]
            for g in genreNames.indices {
                fields.append(g < point.genreScores.count ? "\(point.genreScores[g])" : "")
            }
            if let extra { fields.append(i < extra.values.count ? extra.values[i] : "") }
            out += fields.map(csvField).joined(separator: ",") + "\r\n"
        }
        return out
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: Shared layout

    /// Top genres in order of frequency (ties by name) with their colours and counts.
    struct Legend {
        var genres: [String]
        var counts: [Int]
        var colours: [String]
        var index: [String: Int]

        init(_ points: [MapPoint]) {
            var counts: [String: Int] = [:]
            for p in points { counts[p.topGenre, default: 0] += 1 }
            let ordered = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            genres = ordered.map(\.key)
            self.counts = ordered.map(\.value)
            colours = genres.indices.map { $0 < MapWriter.palette.count ? MapWriter.palette[$0] : MapWriter.otherColour }
            index = Dictionary(uniqueKeysWithValues: genres.enumerated().map { ($1, $0) })
        }
    }

    /// Maps embedding coordinates into a box, keeping the aspect ratio; non-finite coordinates go to the centre.
    struct Frame {
        var scale: Double
        var offsetX: Double
        var offsetY: Double

        init(_ points: [MapPoint], width: Double, height: Double, margin: Double) {
            let xs = points.map { Double($0.x) }.filter(\.isFinite), ys = points.map { Double($0.y) }.filter(\.isFinite)
            let minX = xs.min() ?? 0, maxX = xs.max() ?? 0, minY = ys.min() ?? 0, maxY = ys.max() ?? 0
            let span = max(maxX - minX, maxY - minY, 1e-12)
            scale = min(width - 2 * margin, height - 2 * margin) / span
            offsetX = margin + (width - 2 * margin - (maxX - minX) * scale) / 2 - minX * scale
            offsetY = margin + (height - 2 * margin - (maxY - minY) * scale) / 2 + maxY * scale
        }

        func place(_ p: MapPoint) -> (Double, Double) {
            let x = p.x.isFinite ? Double(p.x) : 0, y = p.y.isFinite ? Double(p.y) : 0
            return (offsetX + x * scale, offsetY - y * scale)
        }
    }

    /// The highest-scoring genres of a point, best first.
    static func topGenres(_ point: MapPoint, genreNames: [String], limit: Int) -> [(String, Float)] {
        let pairs = zip(genreNames, point.genreScores).filter { $0.1.isFinite }
        return Array(pairs.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(limit))
    }

    static func describe(_ point: MapPoint) -> String {
        let title = point.title ?? (point.path as NSString).lastPathComponent
        return [title, point.artist, point.album].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " — ")
    }

    // MARK: SVG

    /// A standalone SVG: one circle per track coloured by top genre, a legend with counts, and a `<title>`
    /// per circle (title, artist, album, best genres) that viewers show on hover.
    public static func svg(_ points: [MapPoint], genreNames: [String], title: String) -> String {
        let legend = Legend(points)
        let plot = 900.0, legendWidth = 260.0
        let height = max(plot, 60 + 18 * Double(legend.genres.count))
        let frame = Frame(points, width: plot, height: plot, margin: 20)
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(plot + legendWidth))" height="\(Int(height))" \
        viewBox="0 0 \(Int(plot + legendWidth)) \(Int(height))" font-family="sans-serif" font-size="12">
        <title>\(xml(title))</title>
        <rect width="100%" height="100%" fill="#ffffff"/>
        <g fill-opacity="0.8" stroke="#ffffff" stroke-width="0.4">

        """
        for point in points {
            let (x, y) = frame.place(point)
            let colour = legend.colours[legend.index[point.topGenre] ?? 0]
            let genres = topGenres(point, genreNames: genreNames, limit: 3)
                .map { "\($0.0) \(String(format: "%.2f", $0.1))" }.joined(separator: ", ")
            let label = describe(point) + "\n" + point.topGenre + (genres.isEmpty ? "" : " (" + genres + ")")
            out += "<circle cx=\"\(fixed(x))\" cy=\"\(fixed(y))\" r=\"3.5\" fill=\"\(colour)\"><title>\(xml(label))</title></circle>\n"
        }
        out += "</g>\n<g transform=\"translate(\(Int(plot + 10)),20)\">\n"
        out += "<text x=\"0\" y=\"0\" font-weight=\"bold\" font-size=\"14\">\(xml(title))</text>\n"
        for (k, genre) in legend.genres.enumerated() {
            let y = 24 + 18 * k
            out += "<rect x=\"0\" y=\"\(y - 10)\" width=\"12\" height=\"12\" fill=\"\(legend.colours[k])\"/>"
            out += "<text x=\"18\" y=\"\(y)\">\(xml(genre)) (\(legend.counts[k]))</text>\n"
        }
        out += "</g>\n</svg>\n"
        return out
    }

    static func fixed(_ v: Double) -> String { String(format: "%.2f", v) }

    /// Escapes text for XML and HTML content and attributes; characters XML 1.0 forbids become U+FFFD.
    static func xml(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                let v = scalar.value
                if v < 0x20 || (0xFFFE...0xFFFF).contains(v) {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    // MARK: HTML

    /// JSON string literal safe inside an HTML `<script>`.
    static func json(_ s: String) -> String { JSONText.quote(s, htmlSafe: true) }

    static func json(_ v: Float) -> String { v.isFinite ? "\(v)" : "0" }

    /// A self-contained page (no network access): the map on a canvas, a tooltip with title, artist, album and
    /// best genres on hover, and a legend whose checkboxes show or hide genres. `#genre=A,B` in the address
    /// starts with only those genres shown; `#status` reports how many tracks are visible.
    public static func html(_ points: [MapPoint], genreNames: [String], title: String) -> String {
        let legend = Legend(points)
        var data = "{\"title\":\(json(title)),\"genres\":[\(legend.genres.map(json).joined(separator: ","))],"
        data += "\"colours\":[\(legend.colours.map(json).joined(separator: ","))],"
        data += "\"counts\":[\(legend.counts.map(String.init).joined(separator: ","))],\"points\":["
        data += points.map { p in
            let best = topGenres(p, genreNames: genreNames, limit: 3)
                .map { "[\(json($0.0)),\(json($0.1))]" }.joined(separator: ",")
            let name = p.title ?? (p.path as NSString).lastPathComponent
            return "[\(json(p.x)),\(json(p.y)),\(legend.index[p.topGenre] ?? 0),\(json(name)),"
                + "\(json(p.artist ?? "")),\(json(p.album ?? "")),\(json(p.path)),[\(best)]]"
        }.joined(separator: ",\n")
        data += "]}"
        // Substitute once per marker, so text in the title or data is never rescanned.
        let halves = htmlTemplate.components(separatedBy: "@DATA@")
        let head = halves[0].components(separatedBy: "@TITLE@")
        return head[0] + xml(title) + head[1] + data + halves[1]
    }

    private static let htmlTemplate = """
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>@TITLE@</title>
    <style>
    html, body { margin: 0; height: 100%; font: 13px/1.4 system-ui, sans-serif; color: #222; background: #fafafa; }
    body { display: flex; }
    #plot { flex: 1; position: relative; min-width: 0; }
    canvas { display: block; width: 100%; height: 100%; }
    aside { width: 250px; overflow-y: auto; padding: 12px; border-left: 1px solid #ddd; background: #fff; }
    h1 { font-size: 15px; margin: 0 0 6px; overflow-wrap: anywhere; }
    #status { color: #555; margin: 0 0 8px; }
    .buttons button { font: inherit; margin: 0 4px 8px 0; }
    label { display: flex; align-items: center; gap: 6px; padding: 1px 0; cursor: pointer; }
    .swatch { width: 12px; height: 12px; border-radius: 50%; flex: none; }
    .count { color: #777; margin-left: auto; }
    #tip { position: absolute; pointer-events: none; background: rgba(255,255,255,.96); border: 1px solid #bbb;
           border-radius: 4px; padding: 6px 8px; max-width: 320px; box-shadow: 0 2px 6px rgba(0,0,0,.15); display: none; }
    #tip .t { font-weight: 600; }
    #tip .g { color: #444; }
    </style>
    </head>
    <body>
    <div id="plot"><canvas id="map"></canvas><div id="tip"></div></div>
    <aside>
    <h1 id="heading"></h1>
    <p id="status"></p>
    <div class="buttons"><button type="button" id="all">All</button><button type="button" id="none">None</button></div>
    <div id="legend"></div>
    </aside>
    <script type="application/json" id="map-data">@DATA@</script>
    <script>
    "use strict";
    (function () {
      const data = JSON.parse(document.getElementById("map-data").textContent);
      const pts = data.points;
      const shown = data.genres.map(() => true);
      const canvas = document.getElementById("map");
      const tip = document.getElementById("tip");
      const status = document.getElementById("status");
      document.getElementById("heading").textContent = data.title;

      const fromHash = new URLSearchParams(location.hash.slice(1)).get("genre");
      if (fromHash !== null) {
        const wanted = new Set(fromHash.split(",").map(s => s.trim()));
        data.genres.forEach((g, i) => { shown[i] = wanted.has(g); });
      }

      const legend = document.getElementById("legend");
      const boxes = data.genres.map((g, i) => {
        const label = document.createElement("label");
        const box = document.createElement("input");
        box.type = "checkbox"; box.checked = shown[i]; box.dataset.genre = g;
        box.addEventListener("change", () => { shown[i] = box.checked; draw(); });
        const swatch = document.createElement("span");
        swatch.className = "swatch"; swatch.style.background = data.colours[i];
        const name = document.createElement("span"); name.textContent = g;
        const count = document.createElement("span"); count.className = "count"; count.textContent = data.counts[i];
        label.append(box, swatch, name, count);
        legend.append(label);
        return box;
      });
      function setAll(v) { boxes.forEach((b, i) => { b.checked = v; shown[i] = v; }); draw(); }
      document.getElementById("all").addEventListener("click", () => setAll(true));
      document.getElementById("none").addEventListener("click", () => setAll(false));

      let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
      for (const p of pts) { minX = Math.min(minX, p[0]); maxX = Math.max(maxX, p[0]); minY = Math.min(minY, p[1]); maxY = Math.max(maxY, p[1]); }
      if (!pts.length) { minX = maxX = minY = maxY = 0; }
      let screen = new Float32Array(pts.length * 2);
      const radius = pts.length > 5000 ? 2 : 3.5;

      function layout() {
        const w = canvas.clientWidth, h = canvas.clientHeight, m = 32;
        const span = Math.max(maxX - minX, maxY - minY, 1e-12);
        const s = Math.min(w - 2 * m, h - 2 * m) / span;
        const ox = (w - (maxX - minX) * s) / 2 - minX * s, oy = (h + (maxY - minY) * s) / 2 + minY * s;
        pts.forEach((p, i) => { screen[2 * i] = ox + p[0] * s; screen[2 * i + 1] = oy - p[1] * s; });
      }

      function draw() {
        const ratio = window.devicePixelRatio || 1;
        canvas.width = Math.round(canvas.clientWidth * ratio);
        canvas.height = Math.round(canvas.clientHeight * ratio);
        layout();
        const ctx = canvas.getContext("2d");
        ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
        ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
        ctx.globalAlpha = 0.85;
        let visible = 0;
        for (let i = 0; i < pts.length; i++) {
          const g = pts[i][2];
          if (!shown[g]) continue;
          visible++;
          ctx.fillStyle = data.colours[g];
          ctx.beginPath();
          ctx.arc(screen[2 * i], screen[2 * i + 1], radius, 0, 2 * Math.PI);
          ctx.fill();
        }
        status.textContent = "Showing " + visible + " of " + pts.length + " tracks";
        status.dataset.visible = visible;
      }

      canvas.addEventListener("mousemove", (e) => {
        const r = canvas.getBoundingClientRect();
        const x = e.clientX - r.left, y = e.clientY - r.top;
        let best = -1, bestD = 64;
        for (let i = 0; i < pts.length; i++) {
          if (!shown[pts[i][2]]) continue;
          const dx = screen[2 * i] - x, dy = screen[2 * i + 1] - y, d = dx * dx + dy * dy;
          if (d < bestD) { bestD = d; best = i; }
        }
        if (best < 0) { tip.style.display = "none"; return; }
        const p = pts[best];
        tip.replaceChildren();
        const line = (cls, text) => { const d = document.createElement("div"); d.className = cls; d.textContent = text; tip.append(d); };
        line("t", p[3] || p[6]);
        if (p[4]) line("a", p[4]);
        if (p[5]) line("a", p[5]);
        line("g", p[7].map(([g, s]) => g + " " + s.toFixed(2)).join(", ") || data.genres[p[2]]);
        tip.style.display = "block";
        tip.style.left = Math.min(x + 12, r.width - tip.offsetWidth - 4) + "px";
        tip.style.top = Math.min(y + 12, r.height - tip.offsetHeight - 4) + "px";
      });
      canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
      window.addEventListener("resize", draw);
      draw();
    })();
    </script>
    </body>
    </html>

    """
}
