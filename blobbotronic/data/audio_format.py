"""The options of a folder of sound files and the clip format they fix (data/audio.py reads the folder).

``audio_options`` checks what a user gave (``--data-option view=image``, ``rate=8000``, ...) and fills in the
defaults; ``AudioFormat`` is the result once ``seconds`` and the channel count are known: it turns waveforms
into the features of its view and is recorded in ``spec.extra["audio"]`` so that predict repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import BlobError
from . import audio_features as af
from .spec import Spec

VIEWS, FEATURES = ("frames", "image"), ("auto", "mfcc", "logmel")
OPTIONS: dict[str, Any] = {"view": "frames", "features": "auto", "rate": 16000, "seconds": "auto", "mono": True,
                           "n_mels": 40, "n_mfcc": 13, "deltas": False, "window_ms": 25.0, "hop_ms": 10.0,
                           "skip_bad": False}
TOP_DB = 80.0


# --- options ---------------------------------------------------------------------------------------


def flag(where: object, name: str, value: Any) -> bool:
    """A yes/no option given as a bool or as text (true/false, yes/no, 1/0, on/off)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise BlobError(f"{where}: option {name}={value!r} is not a yes/no value; use true or false.")


def number(where: object, name: str, value: Any, low: float, high: float, whole: bool = False) -> float:
    """A numeric option within [low, high] (a whole number when ``whole``)."""
    try:
        v = float(value)
        if not low <= v <= high or (whole and v != int(v)):
            raise ValueError
    except (TypeError, ValueError):
        kind = "a whole number" if whole else "a number"
        raise BlobError(f"{where}: option {name}={value!r} must be {kind} from {low:g} to {high:g}.") from None
    return int(v) if whole else v


def choice(where: object, name: str, value: Any, valid: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in valid:
        raise BlobError(f"{where}: option {name}={value!r} is not valid; use one of {', '.join(valid)}.")
    return text


def audio_options(where: object, given: dict[str, Any]) -> dict[str, Any]:
    """The loader's options checked, converted and completed with defaults; ``seconds`` may stay "auto"."""
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        raise BlobError(f"{where}: unknown option(s) {', '.join(unknown)} for a folder of sound files; valid options: "
                        + ", ".join(f"{k} (default {v})" for k, v in OPTIONS.items()) + ".")
    o = {**OPTIONS, **given}
    view = choice(where, "view", o["view"], VIEWS)
    features = choice(where, "features", o["features"], FEATURES)
    features = ("mfcc" if view == "frames" else "logmel") if features == "auto" else features
    deltas = flag(where, "deltas", o["deltas"])
    if view == "image" and (features != "logmel" or deltas):
        raise BlobError(f"{where}: view=image shows the log-mel spectrogram as a picture; MFCCs and deltas are read "
                        "as frames: use view=frames with features=mfcc or deltas=true.")
    out = {"view": view, "features": features, "deltas": deltas, "mono": flag(where, "mono", o["mono"]),
           "rate": number(where, "rate", o["rate"], 1000, 192000, whole=True),
           "n_mels": number(where, "n_mels", o["n_mels"], 4, 256, whole=True),
           "n_mfcc": number(where, "n_mfcc", o["n_mfcc"], 1, 256, whole=True),
           "window_ms": number(where, "window_ms", o["window_ms"], 1, 1000),
           "hop_ms": number(where, "hop_ms", o["hop_ms"], 1, 1000),
           "skip_bad": flag(where, "skip_bad", o["skip_bad"])}
    auto = str(o["seconds"]).lower() == "auto"
    out["seconds"] = "auto" if auto else number(where, "seconds", o["seconds"], 0.01, 1e6)
    if out["features"] == "mfcc" and out["n_mfcc"] > out["n_mels"]:
        raise BlobError(f"{where}: option n_mfcc={out['n_mfcc']} exceeds n_mels={out['n_mels']}; MFCCs are taken "
                        "from the mel bands, so at most n_mels of them exist.")
    return out


@dataclass(frozen=True)
class AudioFormat:
    """How every clip becomes features: recorded in ``spec.extra["audio"]`` for predict."""

    view: str
    features: str
    rate: int
    samples: int
    channels: int
    mono: bool
    n_mels: int
    n_mfcc: int
    deltas: bool
    window_ms: float
    hop_ms: float

    @property
    def hop(self) -> int:
        return max(1, round(self.rate * self.hop_ms / 1000))

    @property
    def win(self) -> int:
        return max(2, round(self.rate * self.window_ms / 1000))

    @property
    def n_fft(self) -> int:
        return 1 << (self.win - 1).bit_length()

    @property
    def frames(self) -> int:
        return 1 + self.samples // self.hop

    @property
    def per_channel(self) -> int:
        return (self.n_mfcc if self.features == "mfcc" else self.n_mels) * (3 if self.deltas else 1)

    @property
    def shape(self) -> tuple[int, ...]:
        if self.view == "image":
            return (self.channels, self.n_mels, self.frames)
        return (self.frames, self.channels * self.per_channel)

    @property
    def modality(self) -> str:
        return "image" if self.view == "image" else "sequence"

    @classmethod
    def of(cls, spec: Spec) -> AudioFormat:
        return cls(**spec.extra["audio"])

    def features_of(self, waves: torch.Tensor) -> torch.Tensor:
        """(N, channels, samples) waveforms -> (N, *shape) features (unstandardised for frames)."""
        power = af.power_spectrogram(waves, self.n_fft, self.hop, self.win)
        fb = af.mel_filterbank(self.rate, self.n_fft, self.n_mels)
        db = af.log_mel(power, fb, TOP_DB)  # (N, C, n_mels, T)
        if self.view == "image":
            return (db + TOP_DB) / TOP_DB
        f = af.mfcc(db, self.n_mfcc) if self.features == "mfcc" else db
        if self.deltas:
            d = af.deltas(f)
            f = torch.cat([f, d, af.deltas(d)], -2)
        return f.permute(0, 3, 1, 2).flatten(2)  # (N, T, C * F): channel by channel within a frame

    def frames_of(self, n_samples: int) -> int:
        """Frames a clip of ``n_samples`` real samples fills (the rest is padding)."""
        return min(self.frames, 1 + min(n_samples, self.samples) // self.hop)


def fit_pad(wave: np.ndarray, samples: int) -> np.ndarray:
    """A (C, n) waveform cut to its first ``samples`` or padded with silence at the end to them."""
    out = np.zeros((wave.shape[0], samples), np.float32)
    n = min(samples, wave.shape[1])
    out[:, :n] = wave[:, :n]
    return out
