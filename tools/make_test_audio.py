#!/usr/bin/env python3
"""Synthesize the short test clips used by the GenredKit tests.

    python3 tools/make_test_audio.py [--out Tests/GenredKitTests/Fixtures/audio]

Everything is generated from fixed seeds with numpy/scipy and written as
16-bit PCM WAV files, so running the script again gives the same files.
"""

import argparse
import os
import wave

import numpy as np
from scipy import signal

OUT_DEFAULT = os.path.join("Tests", "GenredKitTests", "Fixtures", "audio")


def midi_hz(note):
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def place(track, start_s, sound, sr, gain=1.0):
    """Add `sound` into `track` starting at `start_s` seconds (clipped at the end)."""
    i = int(round(start_s * sr))
    if i >= len(track):
        return
    n = min(len(sound), len(track) - i)
    track[i:i + n] += gain * sound[:n]


def adsr(n, sr, attack, release):
    """Linear attack, exponential-ish sustain decay, linear release over n samples."""
    env = np.ones(n)
    a = max(1, min(n, int(attack * sr)))
    r = max(1, min(n - a, int(release * sr)))
    env[:a] = np.linspace(0.0, 1.0, a, endpoint=False)
    env[n - r:] *= np.linspace(1.0, 0.0, r)
    return env


# ---------------------------------------------------------------------------
# Drum sounds

def kick(sr, length=0.35):
    t = np.arange(int(length * sr)) / sr
    freq = 45.0 + 105.0 * np.exp(-t / 0.04)  # sweep 150 Hz -> 45 Hz
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return np.sin(phase) * np.exp(-t / 0.12)


def snare(sr, rng, length=0.25):
    t = np.arange(int(length * sr)) / sr
    b, a = signal.butter(2, [1000 / (sr / 2), 6000 / (sr / 2)], btype="band")
    noise = signal.lfilter(b, a, rng.standard_normal(len(t)))
    body = np.sin(2 * np.pi * 190.0 * t) * np.exp(-t / 0.05)
    return 0.9 * noise * np.exp(-t / 0.06) + 0.5 * body


def hihat(sr, rng, length=0.08, open_=False):
    t = np.arange(int((0.3 if open_ else length) * sr)) / sr
    b, a = signal.butter(4, 5000 / (sr / 2), btype="high")
    noise = signal.lfilter(b, a, rng.standard_normal(len(t)))
    return noise * np.exp(-t / (0.12 if open_ else 0.025))


# ---------------------------------------------------------------------------
# Pitched sounds

def harmonic_tone(freq, dur, sr, partials, attack=0.01, release=0.05, decay=None):
    """Sum of harmonics with amplitudes `partials`, below Nyquist only."""
    t = np.arange(int(dur * sr)) / sr
    out = np.zeros_like(t)
    for k, amp in enumerate(partials, start=1):
        if k * freq < sr / 2 * 0.95:
            out += amp * np.sin(2 * np.pi * k * freq * t)
    env = adsr(len(t), sr, attack, release)
    if decay:
        env *= np.exp(-t / decay)
    return out * env


def piano_note(freq, dur, sr):
    """Additive piano-like tone: slightly stretched partials, faster decay when higher."""
    t = np.arange(int(dur * sr)) / sr
    out = np.zeros_like(t)
    inharm = 0.0004
    for k in range(1, 11):
        fk = k * freq * np.sqrt(1 + inharm * k * k)
        if fk >= sr / 2 * 0.95:
            break
        out += (0.7 ** (k - 1)) * np.sin(2 * np.pi * fk * t) * np.exp(-t * (1.2 + 0.9 * k))
    return out * adsr(len(t), sr, 0.004, 0.08)


def saw(freq, dur, sr):
    """Band-limited sawtooth (additive)."""
    nmax = int((sr / 2 * 0.95) // freq)
    return harmonic_tone(freq, dur, sr, [1.0 / k for k in range(1, nmax + 1)], attack=0.003, release=0.02)


def pan(mono, position):
    """Constant-power pan: position 0 = left, 0.5 = centre, 1 = right."""
    angle = position * np.pi / 2
    return np.stack([mono * np.cos(angle), mono * np.sin(angle)], axis=1)


# ---------------------------------------------------------------------------
# Clips

def groove_stems(sr, duration, seed=1):
    """120 bpm groove: drums, bass line and chord stabs over Am-F-C-G. Returns stems."""
    rng = np.random.RandomState(seed)
    n = int(round(duration * sr))
    beat = 0.5
    stems = {k: np.zeros(n) for k in ("kick", "snare", "hat", "bass", "chords")}
    k_snd, s_snd = kick(sr), snare(sr, rng)
    progression = [(57, [57, 60, 64]), (53, [53, 57, 60]), (48, [55, 60, 64]), (55, [55, 59, 62])]
    bars = int(np.ceil(duration / (4 * beat)))
    for bar in range(bars):
        t0 = bar * 4 * beat
        for b in (0, 2, 2.5):
            place(stems["kick"], t0 + b * beat, k_snd, sr)
        for b in (1, 3):
            place(stems["snare"], t0 + b * beat, s_snd, sr, 0.7)
        for e in range(8):
            place(stems["hat"], t0 + e * beat / 2, hihat(sr, rng, open_=(e == 7)), sr, 0.35 if e % 2 else 0.25)
        root, chord = progression[bar % 4]
        for i, b in enumerate((0, 0.5, 1.5, 2, 2.5, 3.5)):
            note = root - 12 + (12 if i == 4 else 0)
            place(stems["bass"], t0 + b * beat,
                  harmonic_tone(midi_hz(note), 0.4 * beat + 0.1, sr, [1.0, 0.5, 0.25, 0.1], 0.005, 0.05, 0.3), sr, 0.8)
        for b in (0.5, 1.5, 2.5, 3.5):  # off-beat stabs
            for note in chord:
                place(stems["chords"], t0 + b * beat,
                      harmonic_tone(midi_hz(note), 0.35, sr, [1.0, 0.4, 0.3, 0.15, 0.1], 0.01, 0.1, 0.25), sr, 0.25)
    return stems


def groove(sr, duration):
    return sum(groove_stems(sr, duration).values())


def groove_stereo(sr, duration):
    """The groove with panned elements: hi-hat right, chords left, the rest centred."""
    stems = groove_stems(sr, duration)
    positions = {"kick": 0.5, "snare": 0.45, "hat": 0.8, "bass": 0.5, "chords": 0.25}
    return sum(pan(stems[k], positions[k]) for k in stems)


def ballad(sr, duration, seed=2):
    """70 bpm piano-like melody over soft sustained chords (C-Am-F-G)."""
    rng = np.random.RandomState(seed)
    n = int(round(duration * sr))
    out = np.zeros(n)
    beat = 60.0 / 70.0
    chords = [[48, 55, 60, 64], [45, 52, 57, 60], [41, 48, 53, 57], [43, 50, 55, 59]]
    melody = [(72, 1), (74, 0.5), (76, 1.5), (79, 1), (76, 1), (74, 1), (72, 2), (69, 1),
              (72, 1), (77, 1.5), (76, 0.5), (74, 2), (71, 1), (74, 1), (79, 2)]
    for bar in range(int(np.ceil(duration / (4 * beat)))):
        for note in chords[bar % 4]:
            detune = 1.0 + 0.002 * rng.uniform(-1, 1)
            pad = harmonic_tone(midi_hz(note) * detune, 4 * beat + 0.6, sr, [1.0, 0.25, 0.1], 0.6, 0.6)
            place(out, bar * 4 * beat, pad, sr, 0.08)
        place(out, bar * 4 * beat, piano_note(midi_hz(chords[bar % 4][0] - 12), 3.0, sr), sr, 0.35)
    t = 0.0
    for note, length in melody:
        place(out, t, piano_note(midi_hz(note), length * beat + 1.0, sr), sr, 0.5)
        t += length * beat
    return out


def rock(sr, duration, seed=3):
    """140 bpm distorted power chords (E5 G5 A5 C5 D5) with loud drums."""
    rng = np.random.RandomState(seed)
    n = int(round(duration * sr))
    guitar = np.zeros(n)
    drums = np.zeros(n)
    beat = 60.0 / 140.0
    riff = [40, 40, 43, 45, 40, 40, 48, 50]  # roots, one per beat
    k_snd = kick(sr)
    for i in range(int(np.ceil(duration / beat))):
        root = riff[i % len(riff)]
        for e in range(2):  # eighth-note chugs
            chord = sum(saw(midi_hz(root + iv), beat / 2 * 0.95, sr) for iv in (0, 7, 12))
            place(guitar, i * beat + e * beat / 2, chord, sr)
        if i % 2 == 0:
            place(drums, i * beat, k_snd, sr, 1.0)
            place(drums, i * beat + beat / 2, k_snd, sr, 0.8)
        else:
            place(drums, i * beat, snare(sr, rng), sr, 1.0)
        for e in range(2):
            place(drums, i * beat + e * beat / 2, hihat(sr, rng, open_=True), sr, 0.3)
    guitar = np.tanh(6.0 * guitar / np.max(np.abs(guitar)))  # hard overdrive
    b, a = signal.butter(2, 5000 / (sr / 2))  # tame the fizz a little
    guitar = signal.lfilter(b, a, guitar)
    return guitar + 0.8 * drums


# ---------------------------------------------------------------------------
# Output

def finish(x, sr, peak):
    """Short fades at both ends, then scale to the given peak level."""
    fade = int(0.005 * sr)
    ramp = np.linspace(0.0, 1.0, fade)
    x = np.array(x, dtype=np.float64)
    x[:fade] = (x[:fade].T * ramp).T
    x[-fade:] = (x[-fade:].T * ramp[::-1]).T
    return x * (peak / np.max(np.abs(x)))


def write_wav(path, x, sr):
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    print(f"{path}: {sr} Hz, {channels} ch, {pcm.shape[0] / sr:.2f} s, peak {np.max(np.abs(pcm))}")


CLIPS = [
    # (file name, sample rate, duration s, generator, peak level)
    ("groove.wav", 16000, 12.0, groove, 0.8),
    ("ballad.wav", 16000, 10.0, ballad, 0.6),
    ("rock.wav", 16000, 10.0, rock, 0.98),
    ("groove_44k_stereo.wav", 44100, 6.0, groove_stereo, 0.8),
    ("short.wav", 16000, 2.0, groove, 0.8),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=OUT_DEFAULT, help=f"output folder (default: {OUT_DEFAULT})")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, sr, duration, generate, peak in CLIPS:
        write_wav(os.path.join(args.out, name), finish(generate(sr, duration), sr, peak), sr)


if __name__ == "__main__":
    main()
