"""Sound features in plain torch (no torchaudio, which fails to import beside the pinned CPU torch): the power
spectrogram, a mel filterbank, the log-mel spectrogram in decibels and MFCCs (a DCT of the log-mel frames).

Conventions, so that the numbers can be checked against other libraries:

- frames are centred (the waveform is zero-padded by ``n_fft // 2`` at both ends), so ``samples`` samples give
  ``1 + samples // hop`` frames; the window is a periodic Hann window of ``win`` samples;
- the mel scale is HTK's, ``2595 * log10(1 + f / 700)``; filters are triangles on the FFT bin frequencies,
  1 at their centre frequency (no area normalisation), their corners ``n_mels + 2`` points evenly spaced in
  mels from ``fmin`` to ``fmax``; this is ``librosa.filters.mel(htk=True, norm=None)``;
- decibels are ``10 * log10(power)`` relative to the loudest bin of the clip, floored at ``-top_db``, as
  ``librosa.power_to_db(S, ref=np.max, top_db=80)``: a clip's loudness does not change its features;
- MFCCs are the orthonormal DCT-II of the decibel frames (``scipy.fft.dct(type=2, norm="ortho")``), first
  ``n_mfcc`` kept; ``deltas`` appends the HTK regression over +-2 frames of each coefficient.
"""

from __future__ import annotations

import math

import torch

EPS = 1e-10  # power floor before the logarithm


def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_to_hz(m: torch.Tensor | float) -> torch.Tensor:
    return 700.0 * (10.0 ** (torch.as_tensor(m, dtype=torch.float64) / 2595.0) - 1.0)


def mel_filterbank(rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters over the FFT bins (see the module text).

    >>> fb = mel_filterbank(16000, 512, 40)
    >>> tuple(fb.shape), bool((fb.sum(1) > 0).all()), float(fb.max()) <= 1.0
    ((40, 257), True, True)
    """
    fmax = rate / 2 if fmax is None else fmax
    corners = mel_to_hz(torch.linspace(float(hz_to_mel(fmin)), float(hz_to_mel(fmax)), n_mels + 2, dtype=torch.float64))
    bins = torch.linspace(0, rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    lo, mid, hi = corners[:-2, None], corners[1:-1, None], corners[2:, None]
    rising = (bins[None] - lo) / (mid - lo)
    falling = (hi - bins[None]) / (hi - mid)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


def dct_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """(n_out, n_in) rows of the orthonormal DCT-II: ``dct_matrix(K, N) @ v`` is the first K coefficients of v."""
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    d = torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    d[0] /= math.sqrt(2.0)
    return d.float()


def power_spectrogram(wave: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """(..., S) waveforms -> (..., n_fft // 2 + 1, 1 + S // hop) power |STFT|^2, centred frames."""
    lead = wave.shape[:-1]
    flat = wave.reshape(-1, wave.shape[-1]).float()
    spec = torch.stft(flat, n_fft, hop, win, window=torch.hann_window(win, periodic=True), center=True,
                      pad_mode="constant", return_complex=True)
    return spec.abs().square().reshape(*lead, *spec.shape[-2:])


def log_mel(power: torch.Tensor, filterbank: torch.Tensor, top_db: float = 80.0) -> torch.Tensor:
    """(N, ..., bins, T) power -> (N, ..., n_mels, T) decibels relative to each clip's loudest value (a clip is
    one index of the first axis: its channels share one reference), floored at -top_db."""
    mel = torch.einsum("mf,...ft->...mt", filterbank, power)
    db = 10.0 * torch.log10(mel.clamp_min(EPS))
    ref = db.amax(dim=tuple(range(1, db.ndim)), keepdim=True)
    return torch.maximum(db - ref, torch.tensor(-top_db))


def mfcc(db: torch.Tensor, n_mfcc: int) -> torch.Tensor:
    """(..., n_mels, T) decibels -> (..., n_mfcc, T) cepstral coefficients."""
    return torch.einsum("km,...mt->...kt", dct_matrix(n_mfcc, db.shape[-2]), db)


def deltas(c: torch.Tensor, width: int = 2) -> torch.Tensor:
    """HTK's regression deltas along the last axis: sum_k k (c[t+k] - c[t-k]) / (2 sum_k k^2), edges repeated."""
    padded = torch.cat([c[..., :1].expand(*c.shape[:-1], width), c, c[..., -1:].expand(*c.shape[:-1], width)], -1)
    t = c.shape[-1]
    num = sum(k * (padded[..., width + k: width + k + t] - padded[..., width - k: width - k + t])
              for k in range(1, width + 1))
    return num / (2 * sum(k * k for k in range(1, width + 1)))
