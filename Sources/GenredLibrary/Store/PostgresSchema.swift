import Foundation
import GenredEngine

/// The PostgreSQL schema: the same tables and columns as the SQLite one (docs/database.md),
/// with PostgreSQL's types, and migrations of its own in `genred_migrations`.
///
/// Paths use the `C` collation, so they compare and sort by their bytes as in SQLite: the
/// byte-range queries for folders (`path >= 'a/' AND path < 'a0'`) mean the same on both.
enum PostgresSchema {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Append-only, as SQLite's: never edit a shipped migration; add a new one.
    static let migrations: [(id: String, statements: [String])] = [
        ("pg1", [
            """
            CREATE TABLE track (
                id BIGSERIAL PRIMARY KEY,
                path TEXT COLLATE "C" NOT NULL UNIQUE,
                size BIGINT NOT NULL,
                mtime_ns BIGINT NOT NULL,
                inode BIGINT NOT NULL,
                format TEXT,
                duration DOUBLE PRECISION,
                fingerprint TEXT,
                title TEXT,
                artist TEXT,
                album TEXT,
                added_at TIMESTAMPTZ NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL,
                written_size BIGINT,
                written_mtime_ns BIGINT,
                written_inode BIGINT,
                tagged_at TIMESTAMPTZ,
                tag_plan TEXT,
                last_error TEXT,
                error_count BIGINT NOT NULL DEFAULT 0,
                last_error_at TIMESTAMPTZ,
                tags_held_at TIMESTAMPTZ,
                error_ctime_ns BIGINT,
                damage TEXT,
                musicbrainz_recording_id TEXT,
                isrc TEXT
            )
            """,
            "CREATE INDEX track_fingerprint ON track (fingerprint)",
            "CREATE INDEX track_inode ON track (inode, size)",
            "CREATE INDEX track_musicbrainz_recording_id ON track (musicbrainz_recording_id)",
            "CREATE INDEX track_isrc ON track (isrc)",
            "CREATE INDEX track_updated_at ON track (updated_at)",
            """
            CREATE TABLE model (
                name TEXT PRIMARY KEY,
                version TEXT NOT NULL,
                labels TEXT NOT NULL,
                display_names TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE analysis (
                track_id BIGINT NOT NULL REFERENCES track (id) ON DELETE CASCADE,
                model TEXT NOT NULL REFERENCES model (name),
                model_version TEXT NOT NULL,
                windows BIGINT NOT NULL,
                window_frames BIGINT NOT NULL,
                hop_frames BIGINT NOT NULL,
                frame_seconds DOUBLE PRECISION NOT NULL,
                padded BOOLEAN NOT NULL,
                mean BYTEA NOT NULL,
                vote BYTEA NOT NULL,
                taggram BYTEA NOT NULL,
                embedding BYTEA NOT NULL,
                analyzed_at TIMESTAMPTZ NOT NULL,
                seconds DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (track_id, model)
            )
            """,
            """
            CREATE TABLE run (
                id BIGSERIAL PRIMARY KEY,
                command TEXT NOT NULL,
                started_at TIMESTAMPTZ NOT NULL,
                finished_at TIMESTAMPTZ,
                summary TEXT
            )
            """,
            """
            CREATE TABLE tag_journal (
                id BIGSERIAL PRIMARY KEY,
                run_id BIGINT NOT NULL REFERENCES run (id),
                track_id BIGINT REFERENCES track (id) ON DELETE SET NULL,
                path TEXT COLLATE "C" NOT NULL,
                previous TEXT NOT NULL,
                new TEXT NOT NULL,
                written_at TIMESTAMPTZ NOT NULL,
                undone_at TIMESTAMPTZ
            )
            """,
            "CREATE INDEX tag_journal_run_id ON tag_journal (run_id)",
            "CREATE INDEX tag_journal_path ON tag_journal (path)",
            """
            CREATE TABLE queue (
                path TEXT COLLATE "C" PRIMARY KEY,
                reason TEXT NOT NULL,
                enqueued_at TIMESTAMPTZ NOT NULL,
                attempts BIGINT NOT NULL DEFAULT 0,
                not_before TIMESTAMPTZ,
                last_error TEXT,
                priority BIGINT NOT NULL DEFAULT 0
            )
            """,
            """
            CREATE TABLE daemon_state (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL
            )
            """,
            """
            CREATE TABLE write_intent (
                id BIGSERIAL PRIMARY KEY,
                run_id BIGINT NOT NULL REFERENCES run (id),
                track_id BIGINT REFERENCES track (id) ON DELETE SET NULL,
                path TEXT COLLATE "C" NOT NULL,
                kind TEXT NOT NULL,
                undoes BIGINT REFERENCES tag_journal (id) ON DELETE SET NULL,
                plan_key TEXT,
                backup TEXT NOT NULL,
                original_size BIGINT NOT NULL,
                original_digest TEXT NOT NULL,
                original_device BIGINT NOT NULL,
                original_inode BIGINT NOT NULL,
                original_mode BIGINT NOT NULL,
                original_atime_ns BIGINT NOT NULL,
                original_mtime_ns BIGINT NOT NULL,
                audio_digest TEXT NOT NULL,
                container TEXT NOT NULL,
                id3v2_version BIGINT NOT NULL,
                before TEXT NOT NULL,
                staged TEXT NOT NULL,
                previous TEXT NOT NULL,
                new TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                state TEXT NOT NULL,
                note TEXT,
                host TEXT
            )
            """,
            """
            CREATE TABLE taxonomy (
                id BIGSERIAL PRIMARY KEY,
                name TEXT NOT NULL,
                version BIGINT NOT NULL,
                model TEXT NOT NULL,
                model_version TEXT NOT NULL,
                manifest TEXT NOT NULL,
                weights BYTEA NOT NULL,
                report TEXT,
                sources TEXT,
                origin TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                UNIQUE (name, version)
            )
            """,
            """
            CREATE TABLE taxonomy_example (
                taxonomy_id BIGINT NOT NULL REFERENCES taxonomy (id) ON DELETE CASCADE,
                track_id BIGINT REFERENCES track (id) ON DELETE SET NULL,
                path TEXT COLLATE "C" NOT NULL,
                labels TEXT NOT NULL,
                group_key TEXT NOT NULL,
                fold BIGINT NOT NULL
            )
            """,
            "CREATE INDEX taxonomy_example_taxonomy_id ON taxonomy_example (taxonomy_id)",
        ] + PostgresSchema.workerTables),
        // The precision the network ran in (`[analysis] precision`, after any fallback to fp32).
        ("pg2-analysis-precision", ["ALTER TABLE analysis ADD COLUMN precision TEXT NOT NULL DEFAULT 'fp32'"]),
    ]

    static var workerTables: [String] { StoreSchema.workerTables(.postgres) }

    /// Brings the database up to date (under an advisory lock, so two processes starting at once
    /// do not both migrate); read-only, only checks that it is.
    static func migrate(_ engine: PostgresEngine, readOnly: Bool) throws {
        let known = Set(migrations.map(\.id))
        if readOnly {
            let applied = try engine.read { db -> [String] in
                guard try db.row("SELECT to_regclass('genred_migrations') AS t")?.string("t") != nil else { return [] }
                return try db.rows("SELECT identifier FROM genred_migrations").compactMap { $0.string("identifier") }
            }
            if applied.contains(where: { !known.contains($0) }) { throw StoreError(path: engine.display, reason: .newerThanBinary) }
            if applied.count < known.count {
                throw StoreError(path: engine.display, reason: .cannotOpen("it needs an upgrade first: run any genred command that writes to it"))
            }
            return
        }
        try engine.write { db in
            // Any fixed number names the lock: this is genred's.
            try db.execute("SELECT pg_advisory_xact_lock(67656872)")
            try db.execute("CREATE TABLE IF NOT EXISTS genred_migrations (identifier TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            let applied = Set(try db.rows("SELECT identifier FROM genred_migrations").compactMap { $0.string("identifier") })
            if applied.contains(where: { !known.contains($0) }) { throw StoreError(path: engine.display, reason: .newerThanBinary) }
            for migration in migrations where !applied.contains(migration.id) {
                for statement in migration.statements { try db.execute(statement) }
                try db.execute("INSERT INTO genred_migrations (identifier) VALUES (?)", [.text(migration.id)])
            }
        }
    }
}
