# genred: build, run, test, benchmark, install.
PREFIX ?= /usr/local
SWIFT ?= swift
FILES ?= Tests/GenredKitTests/Fixtures/audio/groove.wav Tests/GenredKitTests/Fixtures/audio/ballad.wav Tests/GenredKitTests/Fixtures/audio/short.wav
BIN = .build/release/genred

.PHONY: deps build run test bench install clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release

# The main job: analyse FILES (default: the bundled example clips) with both models.
run: build
	$(BIN) analyze --model msd-musicnn $(FILES)
	$(BIN) analyze --model mtt-musicnn $(FILES)

test: deps
	$(SWIFT) test --disable-swift-testing

bench: build
	$(BIN) bench $$(scripts/bench-audio.sh)/track.mp3 .build/bench-audio/track.flac .build/bench-audio/track.ogg

install: build
	install -Dm755 $(BIN) $(DESTDIR)$(PREFIX)/bin/genred
	for m in models/*/; do \
	  install -Dm644 -t $(DESTDIR)$(PREFIX)/share/genred/models/$$(basename $$m) $$m/manifest.json $$m/weights.safetensors $$m/LICENSE; \
	done

clean:
	rm -rf .build
