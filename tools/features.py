"""Reference input features of musicnn, as its extractor computes them with
librosa, except that the log compression runs in float32 (the original casts
the mel spectrogram to float16 first, which overflows to inf on loud audio).
"""

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
WINDOW_FRAMES = 187
WINDOW_HOP = 187


def logmel_from_file(path):
    """Return (log-mel [frames, 96] float32, mel [frames, 96] float32)."""
    import librosa

    audio, _ = librosa.load(path, sr=SAMPLE_RATE)  # mono average, soxr_hq resampling
    mel = librosa.feature.melspectrogram(
        y=audio, sr=SAMPLE_RATE, hop_length=HOP_LENGTH, n_fft=N_FFT, n_mels=N_MELS
    ).T.astype(np.float32)
    logmel = np.log10(np.float32(10000) * mel + np.float32(1)).astype(np.float32)
    return logmel, mel


def windows(logmel, frames=WINDOW_FRAMES, hop=WINDOW_HOP):
    """Non-padded windows starting at 0 while start + frames <= len (as the original)."""
    starts = range(0, logmel.shape[0] - frames + 1, hop)
    return np.stack([logmel[s:s + frames] for s in starts]) if len(starts) else np.zeros((0, frames, logmel.shape[1]), np.float32)
