# genred: build, run, test, benchmark, install.
PREFIX ?= /usr/local
SWIFT ?= swift
FILES ?= Tests/GenredKitTests/Fixtures/audio/groove.wav Tests/GenredKitTests/Fixtures/audio/ballad.wav Tests/GenredKitTests/Fixtures/audio/short.wav
BIN = .build/release/genred

.PHONY: deps build run test bench bench-watch bench-serve bench-workers install install-files generated uninstall deb test-deb clean

deps:
	@scripts/install-deps.sh build

build: deps
	$(SWIFT) build -c release --product genred

# The main job: analyse FILES (default: the bundled example clips) with both models.
run: build
	$(BIN) analyze --model msd-musicnn $(FILES)
	$(BIN) analyze --model mtt-musicnn $(FILES)

# The PostgreSQL store's tests use a private server (scripts/pg-test-server.sh), started here
# and left running for the next run; the tests start it themselves when run on their own.
# The small-set learn tests use real music: scripts/learn-audio.sh makes the set once (about
# 250 MB of Debian game-music packages, cut to 101 excerpts of 30 s).
test:
	@scripts/install-deps.sh test
	scripts/pg-test-server.sh start
	@echo "scripts/learn-audio.sh (the real-music set of the small-set learn tests)"
	@scripts/learn-audio.sh >/dev/null 2>/tmp/genred-learn-audio.log || { cat /tmp/genred-learn-audio.log; exit 1; }
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

# Where `make install` puts the system units (the Debian package uses /lib/systemd/system).
SYSTEMD_SYSTEM_DIR ?= /etc/systemd/system
SYSTEMD_USER_DIR ?= $(PREFIX)/lib/systemd/user
# Man pages and shell completions, generated from the binary's own command tree.
GENERATED = .build/generated

# The binary, the model bundles, the man pages and shell completions, the system units
# (genred-serve.service and genred-worker.service are optional: enable them by hand) and the
# user units, genred.service and genred-radio.service for MPD (their ExecStart follows PREFIX) and,
# unless one is already there, the example config.
install: build
	$(MAKE) install-files
	@echo "next: systemctl daemon-reload; see docs/operations.md"

# What install puts in place, from a binary already built (the Debian package calls this).
install-files: generated
	install -Dm755 $(BIN) $(DESTDIR)$(PREFIX)/bin/genred
	for m in models/*/; do \
	  install -Dm644 -t $(DESTDIR)$(PREFIX)/share/genred/models/$$(basename $$m) $$m/manifest.json $$m/weights.safetensors $$m/int8-scales.json $$m/LICENSE; \
	done
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m644 $(GENERATED)/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -Dm644 $(GENERATED)/completions/genred.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/genred
	install -Dm644 $(GENERATED)/completions/_genred $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_genred
	install -Dm644 $(GENERATED)/completions/genred.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/genred.fish
	install -d $(DESTDIR)$(SYSTEMD_SYSTEM_DIR) $(DESTDIR)$(SYSTEMD_USER_DIR)
	for u in genred genred-serve genred-worker; do \
	  sed 's|/usr/local/bin/genred|$(PREFIX)/bin/genred|' systemd/$$u.service > $(DESTDIR)$(SYSTEMD_SYSTEM_DIR)/$$u.service; \
	  chmod 644 $(DESTDIR)$(SYSTEMD_SYSTEM_DIR)/$$u.service; \
	done
	sed 's|/usr/local/bin/genred|$(PREFIX)/bin/genred|' systemd/genred-user.service > $(DESTDIR)$(SYSTEMD_USER_DIR)/genred.service
	chmod 644 $(DESTDIR)$(SYSTEMD_USER_DIR)/genred.service
	sed 's|/usr/local/bin/genred|$(PREFIX)/bin/genred|' systemd/genred-radio.service > $(DESTDIR)$(SYSTEMD_USER_DIR)/genred-radio.service
	chmod 644 $(DESTDIR)$(SYSTEMD_USER_DIR)/genred-radio.service
	@if [ -e $(DESTDIR)/etc/genred/genred.toml ]; then \
	  echo "kept the existing $(DESTDIR)/etc/genred/genred.toml (the new example: config/genred.toml)"; \
	else \
	  install -Dm644 config/genred.toml $(DESTDIR)/etc/genred/genred.toml; \
	fi

# One man page per command and the bash, zsh and fish completions, from the parser's own tree.
generated: $(BIN)
	rm -rf $(GENERATED)
	python3 tools/make_manpages.py $(BIN) $(GENERATED)/man
	mkdir -p $(GENERATED)/completions
	$(BIN) --generate-completion-script bash | sed '1{/^#!/d}' > $(GENERATED)/completions/genred.bash
	$(BIN) --generate-completion-script zsh > $(GENERATED)/completions/_genred
	$(BIN) --generate-completion-script fish > $(GENERATED)/completions/genred.fish

# Removes what install put in place except the config and the library database.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/genred $(DESTDIR)$(SYSTEMD_SYSTEM_DIR)/genred.service $(DESTDIR)$(SYSTEMD_SYSTEM_DIR)/genred-serve.service $(DESTDIR)$(SYSTEMD_SYSTEM_DIR)/genred-worker.service $(DESTDIR)$(SYSTEMD_USER_DIR)/genred.service $(DESTDIR)$(SYSTEMD_USER_DIR)/genred-radio.service
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/genred.1 $(DESTDIR)$(PREFIX)/share/man/man1/genred-*.1
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/genred $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_genred $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/genred.fish
	rm -rf $(DESTDIR)$(PREFIX)/share/genred/models
	-rmdir $(DESTDIR)$(PREFIX)/share/genred 2>/dev/null
	@echo "kept /etc/genred and the library database (/var/lib/genred, ~/.local/share/genred)"

# The Debian package, dist/genred_VERSION_amd64.deb: installs where no Swift toolchain is.
DEB_VERSION = $(shell dpkg-parsechangelog -S Version 2>/dev/null)
deb:
	@scripts/install-deps.sh deb
	dpkg-buildpackage -b -us -uc
	mkdir -p dist
	mv ../genred_$(DEB_VERSION)_amd64.deb ../genred_$(DEB_VERSION)_amd64.buildinfo ../genred_$(DEB_VERSION)_amd64.changes dist/
	lintian --fail-on error dist/genred_$(DEB_VERSION)_amd64.deb
	@echo "built dist/genred_$(DEB_VERSION)_amd64.deb"

# The package installed with apt on this machine, then upgraded, removed and purged
# (root: it changes the system; CI runs it after make test).
test-deb: deb
	scripts/test-deb.sh dist/genred_$(DEB_VERSION)_amd64.deb

clean:
	rm -rf .build dist
