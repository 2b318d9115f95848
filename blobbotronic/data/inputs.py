"""Reading new inputs for predict, prepared exactly as the training data was: the registry of readers, and
``conform``, which fits sequences to a model's length.

A reader ``read(spec, paths) -> (x, lengths, names)`` returns a batch tensor shaped ``(N, *spec.input_shape)``
(sequences may be longer or shorter, with ``lengths``), ``None`` or the true lengths, and one name per sample
such as ``cat.png`` or ``new.csv:row 3``. Readers register by modality (the name); a reader with a ``claims``
tag (``claims(spec) -> bool``) is asked first and reads every Spec it claims, whatever its modality. As for file
formats (formats.py), a reader may be given as ``"module:function"``; the catalogue at the end names them all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import BlobError
from ..registry import Registry
from .formats import resolve
from .spec import MODALITIES, Spec

Batch = tuple[torch.Tensor, torch.Tensor | None, list[str]]
Reader = Callable[[Spec, list[Path]], Batch]


class Readers(Registry):
    """The Registry of predict's readers; ``items()`` also reads it as a mapping, name -> reader."""

    def items(self) -> list[tuple[str, Any]]:
        return [(name, self.get(name)) for name in self]


READERS = Readers("input reader")


def register_reader(name: str, reader: Reader | str, *, claims: Callable[[Spec], bool] | str | None = None) -> None:
    """Register predict's reader of one modality (``name``), or, with ``claims``, of the Specs it claims."""
    READERS.register(name, claims=claims)(reader)


def reader_for(spec: Spec) -> Reader | None:
    """The reader that claims ``spec``, else the one of its modality, else None. READERS may also be a plain
    mapping of modality -> reader (tests put one in its place)."""
    if isinstance(READERS, Registry):
        for name in READERS:
            claims = READERS.tags(name)["claims"]
            if claims is not None and resolve(claims)(spec):
                return resolve(READERS.get(name))
    return resolve(READERS.get(spec.modality)) if spec.modality in READERS else None


def read(spec: Spec, paths: list[Path]) -> Batch:
    """Read new inputs for prediction, prepared as the training data of ``spec`` was."""
    reader = reader_for(spec)
    if reader is None:
        raise BlobError(
            f"Predict reads {', '.join(sorted(n for n in READERS if n in MODALITIES))} inputs from files; data set "
            f"{spec.name!r} is {spec.modality}, which it cannot read new inputs for."
        )
    if not paths:
        raise BlobError("Predict needs at least one input file.")
    absent = [str(p) for p in paths if not p.exists()]
    if absent:
        raise BlobError(f"Input file(s) not found: {', '.join(absent)}.")
    return reader(spec, list(paths))


def conform(spec: Spec, x: torch.Tensor, lengths: torch.Tensor | None, names: list[str],
            resample: bool = False) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, int]]:
    """Sequences checked against the model's length: exactly ``spec.input_shape[0]`` steps, or at most that for
    a model trained on sequences of varying length (``extra['variable_length']``). Others are an error naming
    them and the shape expected, or with ``resample`` are interpolated linearly to that length; the third value
    maps each resampled input's name to its own length. Other modalities pass through unchanged."""
    if spec.modality != "sequence":
        return x, lengths, {}
    want, channels = spec.input_shape[0], spec.input_shape[-1]
    have = [want] * len(names) if lengths is None else [int(n) for n in lengths]
    variable = bool(spec.extra.get("variable_length"))
    wrong = [i for i, n in enumerate(have) if (n > want if variable else n != want)]
    resampled = set(wrong)
    if not wrong:
        return x, lengths, {}
    if not resample:
        first = wrong[0]
        others = [f"{names[i]} ({have[i]})" for i in wrong[1:4]] + (["..."] if len(wrong) > 4 else [])
        also = f" ({len(wrong) - 1} more input{'s' * (len(wrong) > 2)} too: {', '.join(others)})" if others else ""
        shape = f"{'at most' if variable else 'exactly'} {want} steps of {channels} channel{'s' * (channels != 1)}"
        raise BlobError(
            f"{names[first]}: a series of {have[first]} steps{also}, but the model reads series of {shape}, "
            f"shape ({want}, {channels}), as it was trained on data set {spec.name!r}; it would answer a series of "
            f"another length as confidently, and wrongly. Give series of {'up to ' if variable else ''}{want} "
            f"values, or add --resample to interpolate each one linearly to {want} steps (the predictions then say "
            "so)."
        )
    out = torch.zeros(len(names), want, channels)
    for i, n in enumerate(have):
        series = x[i, :n]
        if i not in resampled:
            out[i, :n] = series
        elif n == 1:
            out[i] = series.expand(want, channels)
        else:
            out[i] = torch.nn.functional.interpolate(series.T[None], size=want, mode="linear", align_corners=True)[0].T
    have = [want if i in resampled else n for i, n in enumerate(have)]
    new_lengths = None if all(n == want for n in have) else torch.tensor(have, dtype=torch.long)
    return out, new_lengths, {names[i]: int(lengths[i]) for i in wrong}  # lengths is set: some differ


# --- the catalogue: one line a reader ------------------------------------------------------------------

register_reader("image", "images:read_images")
register_reader("table", "csv_files:read_tables")
register_reader("sequence", "sequence_inputs:read_sequences")
register_reader("video", "video:read_video_inputs")
register_reader("text", "text_files:read_text_inputs")
register_reader("sound", "audio:read_audio_inputs", claims="audio:reads_inputs")  # sound features, any modality
