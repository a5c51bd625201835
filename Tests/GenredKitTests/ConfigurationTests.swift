import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

final class ConfigurationTests: XCTestCase {
    func testFullFileParses() throws {
        let text = """
            # a comment
            [library]
            roots = ["/srv/music", "/home/u/Music"]
            database = "/var/lib/genred/library.sqlite"

            [analysis]
            model = "mtt-musicnn"
            jobs = 3

            [tags]
            policy = "merge"
            moods = false
            genre_threshold = 0.25
            max_genres = 2
            mood_threshold = 0.3
            max_moods = 1
            id3v23_separator = "; "

            [tags.genre_map]
            "alternative rock" = "Alternative"
            Experimental = ""
            """
        let c = try Configuration.parse(text, path: "test.toml")
        XCTAssertEqual(c.roots, ["/srv/music", "/home/u/Music"])
        XCTAssertEqual(c.database, "/var/lib/genred/library.sqlite")
        XCTAssertEqual(c.model, "mtt-musicnn")
        XCTAssertEqual(c.jobs, 3)
        XCTAssertEqual(c.tags.policy, .merge)
        XCTAssertFalse(c.tags.moods)
        XCTAssertEqual(c.tags.genreThreshold, 0.25)
        XCTAssertEqual(c.tags.maxGenres, 2)
        XCTAssertEqual(c.tags.moodThreshold, 0.3)
        XCTAssertEqual(c.tags.maxMoods, 1)
        XCTAssertEqual(c.tags.id3v23Separator, "; ")
        var expected = TagSettings.defaultGenreMap
        expected["alternative rock"] = "Alternative"
        expected["experimental"] = ""
        XCTAssertEqual(c.tags.genreMap, expected, "the file's entries are added over the built-in merges")
    }

    func testWatchSettings() throws {
        let c = try Configuration.parse("[watch]\nsettle_seconds = 2.5\nrescan_interval = \"6h\"\nworkers = 1\nmax_attempts = 5\nlog_level = \"debug\"\n", path: "w.toml")
        XCTAssertEqual(c.watch.settleSeconds, 2.5)
        XCTAssertEqual(c.watch.rescanInterval, 6 * 3600)
        XCTAssertEqual(c.watch.workers, 1)
        XCTAssertEqual(c.watch.maxAttempts, 5)
        XCTAssertEqual(c.watch.logLevel, .debug)
        XCTAssertEqual(Configuration.parseDuration("90s"), 90)
        XCTAssertEqual(Configuration.parseDuration("1d"), 86400)
        XCTAssertEqual(Configuration.parseDuration("off"), 0)
        XCTAssertEqual(Configuration.parseDuration("3600"), 3600)
        XCTAssertNil(Configuration.parseDuration("soon"))
        XCTAssertThrowsError(try Configuration.parse("[watch]\nrescan_interval = \"soon\"\n", path: "w.toml")) { error in
            XCTAssertEqual((error as! ConfigError).line, 2)
        }
    }

    func testTaxonomiesAndTheirFields() throws {
        let c = try Configuration.parse("""
            [tags]
            taxonomies = ["styles", "prog"]
            taxonomy_field = "grouping"

            [tags.taxonomy_fields]
            prog = "PROG_STATUS"
            """, path: "t.toml")
        XCTAssertEqual(c.tags.taxonomies, ["styles", "prog"])
        XCTAssertEqual(c.tags.field(forTaxonomy: "styles"), TagField(rawValue: "GROUPING"))
        XCTAssertEqual(c.tags.field(forTaxonomy: "prog").rawValue, "PROG_STATUS")
        XCTAssertEqual(Configuration().tags.field(forTaxonomy: "any"), .genre)
        XCTAssertThrowsError(try Configuration.parse("[tags]\ntaxonomy_field = \"TITLE\"\n", path: "t.toml")) { error in
            XCTAssertEqual((error as! ConfigError).line, 2)
            XCTAssertTrue("\(error)".contains("identifies or orders the track"), "\(error)")
        }
        XCTAssertThrowsError(try Configuration.parse("[tags]\ntaxonomy_field = \"my field\"\n", path: "t.toml")) { error in
            XCTAssertTrue("\(error)".contains("not a tag field name"), "\(error)")
        }
        XCTAssertThrowsError(try Configuration.parse("[tags]\ntaxonomies = [\"a/b\"]\n", path: "t.toml"))
    }

    func testEmptyFileGivesDefaults() throws {
        XCTAssertEqual(try Configuration.parse("", path: "x.toml"), Configuration())
    }

    func testMPDAndPlaylistSettings() throws {
        let c = try Configuration.parse("""
            [mpd]
            address = "music.lan:6601"
            password = "pw"
            music_directory = "/srv/music"

            [playlists]
            enabled = true
            folder = "/srv/music/Playlists"
            min_size = 4
            max_size = 50
            more_like = ["/srv/music/a.flac"]
            """, path: "c.toml")
        XCTAssertEqual(c.mpd.address, "music.lan:6601")
        XCTAssertEqual(c.mpd.password, "pw")
        XCTAssertEqual(c.mpd.musicDirectory, "/srv/music")
        XCTAssertTrue(c.playlists.enabled)
        XCTAssertEqual(c.playlists.folder, "/srv/music/Playlists")
        XCTAssertEqual(c.playlists.minSize, 4)
        XCTAssertEqual(c.playlists.maxSize, 50)
        XCTAssertEqual(c.playlists.moreLike, ["/srv/music/a.flac"])
        XCTAssertFalse(Configuration().playlists.enabled, "off by default")

        XCTAssertThrowsError(try Configuration.parse("[playlists]\nenabled = true\n", path: "c.toml")) { error in
            XCTAssertTrue("\(error)".contains("needs folder"), "\(error)")
        }
        XCTAssertThrowsError(try Configuration.parse("[mpd]\nmusic_directory = \"music\"\n", path: "c.toml")) { error in
            XCTAssertTrue("\(error)".contains("absolute"), "\(error)")
        }
        XCTAssertThrowsError(try Configuration.parse("[mpd]\nadress = \"x\"\n", path: "c.toml")) { error in
            XCTAssertEqual((error as! ConfigError).key, "mpd.adress")
        }
    }

    func testMapSettings() throws {
        let c = try Configuration.parse("[map]\nperplexity = 12.5\niterations = 400\nseed = 7\n", path: "c.toml")
        XCTAssertEqual(c.map.perplexity, 12.5)
        XCTAssertEqual(c.map.iterations, 400)
        XCTAssertEqual(c.map.seed, 7)
        let options = c.map.options
        XCTAssertEqual(options.perplexity, 12.5)
        XCTAssertEqual(options.iterations, 400)
        XCTAssertEqual(options.seed, 7)
        XCTAssertEqual(Configuration().map.options.iterations, TSNEOptions().iterations, "the defaults are the library's")
        XCTAssertEqual(try Configuration.parse("[map]\nperplexity = 40\n", path: "c.toml").map.perplexity, 40, "a whole number is a number")

        for (text, key, message) in [("iterations = 0", "map.iterations", "between 1 and 100000"),
                                     ("iterations = 2.5", "map.iterations", "whole number"),
                                     ("perplexity = 0.5", "map.perplexity", "between 1 and 1000"),
                                     ("perplexity = \"high\"", "map.perplexity", "must be a number"),
                                     ("seed = -1", "map.seed", "between 0 and"),
                                     ("iteratons = 300", "map.iteratons", "unknown setting")] {
            XCTAssertThrowsError(try Configuration.parse("[map]\n\(text)\n", path: "c.toml"), text) { error in
                let e = error as! ConfigError
                XCTAssertEqual(e.key, key, text)
                XCTAssertEqual(e.line, 2, text)
                XCTAssertTrue(e.description.contains(message), "\(text): \(e.description)")
            }
        }
    }

    func testUnknownKeyIsNamedWithItsLine() {
        let text = "[tags]\npolicy = \"fill\"\ngenre_treshold = 0.3\n"
        XCTAssertThrowsError(try Configuration.parse(text, path: "/etc/genred/genred.toml")) { error in
            let e = error as! ConfigError
            XCTAssertEqual(e.line, 3)
            XCTAssertEqual(e.key, "tags.genre_treshold")
            XCTAssertTrue(e.description.hasPrefix("/etc/genred/genred.toml:3: tags.genre_treshold: unknown setting"), e.description)
        }
    }

    func testWrongTypeAndRangeAreNamedWithTheirLine() {
        XCTAssertThrowsError(try Configuration.parse("[tags]\n\nmax_genres = \"three\"\n", path: "c.toml")) { error in
            let e = error as! ConfigError
            XCTAssertEqual(e.line, 3)
            XCTAssertTrue(e.message.contains("whole number"))
        }
        XCTAssertThrowsError(try Configuration.parse("[tags]\ngenre_threshold = 1.5\n", path: "c.toml")) { error in
            XCTAssertTrue("\(error)".contains("between 0 and 1"), "\(error)")
        }
        XCTAssertThrowsError(try Configuration.parse("[tags]\npolicy = \"clobber\"\n", path: "c.toml")) { error in
            XCTAssertTrue("\(error)".contains("fill, merge, overwrite"), "\(error)")
        }
    }

    func testSyntaxErrorGivesTheLine() {
        XCTAssertThrowsError(try Configuration.parse("[tags]\npolicy = \n", path: "c.toml")) { error in
            XCTAssertEqual((error as! ConfigError).line, 2)
        }
    }

    func testMissingExplicitFileIsAnError() {
        XCTAssertThrowsError(try Configuration.load(explicit: "/nonexistent/genred.toml")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/genred.toml"))
        }
    }

    func testSearchPathsPreferTheUsersFile() {
        XCTAssertEqual(Configuration.searchPaths(environment: ["XDG_CONFIG_HOME": "/c", "HOME": "/h"]),
                       ["/c/genred/genred.toml", "/etc/genred/genred.toml"])
        XCTAssertEqual(Configuration.searchPaths(environment: ["HOME": "/h"]).first, "/h/.config/genred/genred.toml")
    }
}
