"""Reading one sound file: a header look (length, channels) and decoding to float32 samples at one rate.

Every format goes through PyAV (FFmpeg): .wav, .flac, .ogg (Vorbis, Opus), .mp3, and the others FFmpeg reads.
FFmpeg quietly decodes what is left of a cut WAV and reads a text file as nothing at all, so .wav files first
get a look at their RIFF header here, which tells apart the problems a user can fix: an empty file, text or
other bytes named .wav, a sample format no decoder reads (12-bit integers, 16-bit floats, an unknown codec
tag) and a file cut short (its header promises more sample frames than the file holds).

Every problem is a BlobError naming the file, what is wrong and what would be readable.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BlobError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aiff", ".aif")
READABLE = "WAV (8/16/24/32-bit integer or 32/64-bit float samples), FLAC, Ogg Vorbis/Opus or MP3"
HINT = "Replace or delete it (a folder loads with skip_bad=true, or --skip-bad, to skip unreadable sound files)."
SILENT_DBFS = -80.0  # a clip whose loudest sample is quieter than this (1e-4 of full scale) holds no sound
TRUNCATED = 0.9  # fewer decoded seconds than this share of the header's length: the file is cut short
STREAMED = 0x7FFF0000  # a WAV data size at least this is a placeholder written by streaming tools, not a length
PCM_BITS = {1: (8, 16, 24, 32), 3: (32, 64), 6: (8,), 7: (8,)}  # format tag -> readable bits per sample
TAG_NAMES = {1: "integer PCM", 3: "floating point", 6: "A-law", 7: "mu-law", 2: "Microsoft ADPCM", 0x11: "IMA ADPCM",
             0x55: "MP3"}


@dataclass(frozen=True)
class Header:
    """What a sound file says about itself before decoding: seconds (None: unknown), channels and rate."""

    seconds: float | None
    channels: int
    rate: int


# --- WAV headers -----------------------------------------------------------------------------------


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(text) and all(c.isprintable() or c in "\r\n\t" for c in text)


def check_wav(path: Path) -> Header | None:
    """The header of a RIFF WAV file, checked (see the module text); None for an RF64/RIFX file FFmpeg reads
    itself. A problem is a BlobError saying what it is."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(12)
            if size == 0:
                raise BlobError(f"{path}: the file is empty (0 bytes); there is no sound to read. {HINT}")
            if head[:4] in (b"RF64", b"RIFX", b"BW64"):
                return None
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                raise BlobError(f"{path}: {_not_wav(head)} {HINT}")
            fmt, data_at, data_size = None, None, None
            while data_at is None:
                chunk = f.read(8)
                if len(chunk) < 8:
                    break
                kind, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if kind == b"fmt ":
                    fmt = f.read(min(length, 40))
                    f.seek(length - len(fmt) + (length & 1), 1)
                elif kind == b"data":
                    data_at, data_size = f.tell(), length
                else:
                    f.seek(length + (length & 1), 1)
    except OSError as e:
        raise BlobError(f"{path}: cannot be read ({e.strerror or e}).") from None
    if fmt is None or len(fmt) < 16 or data_at is None:
        missing = "'fmt ' (its sample format)" if fmt is None or len(fmt) < 16 else "'data' (its samples)"
        raise BlobError(f"{path}: truncated or damaged: its WAV header has no {missing} chunk. {HINT}")
    tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID
        tag = struct.unpack("<H", fmt[24:26])[0]
    _check_format(path, tag, bits, channels, rate)
    frames = data_size // max(1, block)
    if data_size < STREAMED and data_at + data_size > size:
        held = (size - data_at) // max(1, block)
        raise BlobError(f"{path}: truncated: its header promises {frames / rate:.2f} s ({frames:,} sample frames) but "
                        f"the file holds only {held / rate:.2f} s ({held:,}). {HINT}")
    return Header(frames / rate if data_size < STREAMED else None, channels, rate)


def _not_wav(head: bytes) -> str:
    if _looks_like_text(head):
        shown = head.decode("utf-8").split("\n")[0][:12]
        return (f"this is text ({shown!r}...), not sound; a .wav file starts with the bytes RIFF....WAVE. A file "
                "renamed .wav is not converted: export it as sound from the program that recorded it.")
    return (f"not a WAV file: it starts with the bytes {head[:12].hex(' ')} instead of RIFF....WAVE; it is damaged "
            f"or another format named .wav. Readable: {READABLE}.")


def _check_format(path: Path, tag: int, bits: int, channels: int, rate: int) -> None:
    if channels == 0 or rate == 0:
        raise BlobError(f"{path}: damaged WAV header: it declares {channels} channels at {rate} Hz. {HINT}")
    name = TAG_NAMES.get(tag, f"format tag 0x{tag:04x}")
    if tag in PCM_BITS and bits not in PCM_BITS[tag]:
        raise BlobError(f"{path}: wrong sample format: {bits}-bit {name} samples, which no decoder here reads. "
                        f"Readable: {READABLE}; convert it (e.g. ffmpeg -i IN -c:a pcm_s16le OUT.wav).")
    if tag not in TAG_NAMES:
        raise BlobError(f"{path}: wrong sample format: its samples are in {name}, which is not a known WAV "
                        f"codec. Readable: {READABLE}; convert it (e.g. ffmpeg -i IN -c:a pcm_s16le OUT.wav).")


# --- decoding --------------------------------------------------------------------------------------


def _av():
    try:
        import av
    except ImportError:
        raise BlobError("Reading sound files needs PyAV (FFmpeg): pip install av (or blobbotronic[video]).") from None
    return av


def _reason(e: BaseException) -> str:
    """FFmpeg's message without its errno and file name: 'Invalid data found when processing input'."""
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(e).strip().split("\n")[0]).split(": '")[0].strip()
    return text or type(e).__name__


def peek(path: Path) -> Header:
    """A sound file's length, channels and rate from its headers, without decoding it."""
    wav = check_wav(path) if path.suffix.lower() == ".wav" else None
    if wav is not None:
        return wav
    av = _av()
    try:
        with av.open(str(path)) as container:
            stream = _audio_stream(path, container)
            channels = stream.codec_context.channels or stream.layout.nb_channels
            return Header(_declared_seconds(container, stream), channels, stream.rate)
    except (av.FFmpegError, OSError, ValueError) as e:
        raise _undecodable(path, e) from None


def _audio_stream(path: Path, container) -> object:
    if not container.streams.audio:
        what = "a video without sound" if container.streams.video else "no sound in a format FFmpeg reads"
        raise BlobError(f"{path}: holds {what}; there is no audio stream to read. Readable: {READABLE}. {HINT}")
    return container.streams.audio[0]


def _declared_seconds(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / 1e6 if container.duration else None


def _undecodable(path: Path, e: BaseException) -> BlobError:
    return BlobError(f"{path}: cannot decode this sound file ({_reason(e)}); it is damaged, truncated or not sound "
                     f"(readable: {READABLE}). {HINT}")


def decode(path: Path, rate: int, mono: bool, samples: int | None = None, header: Header | None = None) -> np.ndarray:
    """The samples of a sound file as float32 (channels, n) at ``rate`` Hz (FFmpeg's resampler), mixed down to
    one channel with ``mono``; decoding stops after ``samples`` samples when given. A cut, silent or undecodable
    file is a BlobError. ``header``: the file's ``peek`` when already read."""
    header = header or peek(path)
    av = _av()
    chunks, n = [], 0
    try:
        with av.open(str(path)) as container:
            stream = _audio_stream(path, container)
            layout = "mono" if mono else stream.layout
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    n += chunks[-1].shape[1]
                if samples is not None and n >= samples:
                    break
            else:
                chunks += [out.to_ndarray() for out in resampler.resample(None)]
    except (av.FFmpegError, OSError, ValueError) as e:
        raise _undecodable(path, e) from None
    wave = np.concatenate(chunks, 1) if chunks else np.zeros((1, 0), np.float32)
    wave = wave[:, :samples] if samples is not None else wave
    _check_decoded(path, wave, header, rate, cut=samples is not None and n >= samples)
    return np.ascontiguousarray(wave, dtype=np.float32)


def _check_decoded(path: Path, wave: np.ndarray, header: Header, rate: int, cut: bool) -> None:
    if wave.shape[1] == 0:
        raise BlobError(f"{path}: no sound could be decoded; the file holds no samples or is damaged. {HINT}")
    if not cut and header.seconds and wave.shape[1] / rate < TRUNCATED * header.seconds:
        raise BlobError(f"{path}: truncated: its header promises {header.seconds:.2f} s but only "
                        f"{wave.shape[1] / rate:.2f} s could be decoded. {HINT}")
    if not np.isfinite(wave).all():
        raise BlobError(f"{path}: holds NaN or infinite samples (a damaged floating-point file). {HINT}")
    peak = float(np.abs(wave).max())
    if peak <= 10 ** (SILENT_DBFS / 20):
        level = ("digital silence (every sample is 0)" if peak == 0
                 else f"its loudest sample is {20 * np.log10(peak):.0f} dBFS")
        span = f"its first {wave.shape[1] / rate:.2f} s" if cut else "the clip"
        raise BlobError(f"{path}: silent: {span} holds {level}, below {SILENT_DBFS:.0f} dBFS; there is no sound to "
                        f"classify. Check the recording (a muted microphone, a wrong input). {HINT}")
