# genred: build, run, test, benchmark, install.
PREFIX ?= /usr/local
SWIFT ?= swift
FILES ?= Tests/GenredKitTests/Fixtures/audio/groove.wav Tests/GenredKitTests/Fixtures/audio/ballad.wav Tests/GenredKitTests/Fixtures/audio/short.wav
BIN = .build/release/genred

.PHONY: deps build run test bench bench-watch bench-serve bench-workers install uninstall clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release

# The main job: analyse FILES (default: the bundled example clips) with both models.
run: build
	$(BIN) analyze --model msd-musicnn $(FILES)
	$(BIN) analyze --model mtt-musicnn $(FILES)

# The PostgreSQL store's tests use a private server (scripts/pg-test-server.sh), started here
# and left running for the next run; the tests start it themselves when run on their own.
test: deps
	scripts/pg-test-server.sh start
	$(SWIFT) test --disable-swift-testing

# Speed on about 19 minutes of real recordings (MP3 44.1 and 22.05 kHz, Ogg Vorbis, Opus,
# FLAC; fetched from Debian's game-music packages), and the original Python/TensorFlow
# pipeline on the same files in the same run (set up on first use under .build/bench-original).
bench: build
	scripts/bench.sh $(BIN)

# The daemon: time to tag 1,000 files that land at once, then idle CPU and memory.
bench-watch: build
	scripts/bench-watch.sh 1000 30

# genred serve: median and p99 latency of similar and of a path of 25 over 100,000 made-up
# tracks, with wrk on loopback.
bench-serve: build
	scripts/bench-serve.sh 100000 20

# genred worker: 1, 2 and 4 workers (each in a network namespace of its own, over TCP) on a
# private PostgreSQL server, and one on SQLite: throughput and store time per job.
bench-workers: build
	scripts/bench-workers.sh 200

# The binary, the model bundles, the system units (genred-serve.service and
# genred-worker.service are optional: enable them by hand) and the user unit (their ExecStart follows
# PREFIX) and, unless one is already there, the example config.
install: build
	install -Dm755 $(BIN) $(DESTDIR)$(PREFIX)/bin/genred
	for m in models/*/; do \
	  install -Dm644 -t $(DESTDIR)$(PREFIX)/share/genred/models/$$(basename $$m) $$m/manifest.json $$m/weights.safetensors $$m/LICENSE; \
	done
	install -d $(DESTDIR)/etc/systemd/system $(DESTDIR)$(PREFIX)/lib/systemd/user
	sed 's|/usr/local/bin/genred|$(PREFIX)/bin/genred|' systemd/genred.service > $(DESTDIR)/etc/systemd/system/genred.service
	sed 's|/usr/local/bin/genred|$(PREFIX)/bin/genred|' systemd/genred-serve.service > $(DESTDIR)/etc/systemd/system/genred-serve.service
	sed 's|/usr/local/bin/genred|$(PREFIX)/bin/genred|' systemd/genred-worker.service > $(DESTDIR)/etc/systemd/system/genred-worker.service
	sed 's|/usr/local/bin/genred|$(PREFIX)/bin/genred|' systemd/genred-user.service > $(DESTDIR)$(PREFIX)/lib/systemd/user/genred.service
	chmod 644 $(DESTDIR)/etc/systemd/system/genred.service $(DESTDIR)/etc/systemd/system/genred-serve.service $(DESTDIR)/etc/systemd/system/genred-worker.service $(DESTDIR)$(PREFIX)/lib/systemd/user/genred.service
	@if [ -e $(DESTDIR)/etc/genred/genred.toml ]; then \
	  echo "kept the existing $(DESTDIR)/etc/genred/genred.toml (the new example: config/genred.toml)"; \
	else \
	  install -Dm644 config/genred.toml $(DESTDIR)/etc/genred/genred.toml; \
	fi
	@echo "next: systemctl daemon-reload; see docs/operations.md"

# Removes what install put in place except the config and the library database.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/genred $(DESTDIR)/etc/systemd/system/genred.service $(DESTDIR)/etc/systemd/system/genred-serve.service $(DESTDIR)/etc/systemd/system/genred-worker.service $(DESTDIR)$(PREFIX)/lib/systemd/user/genred.service
	rm -rf $(DESTDIR)$(PREFIX)/share/genred/models
	-rmdir $(DESTDIR)$(PREFIX)/share/genred 2>/dev/null
	@echo "kept /etc/genred and the library database (/var/lib/genred, ~/.local/share/genred)"

clean:
	rm -rf .build
