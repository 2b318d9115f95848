"""Spec (what a data set is: modality, task, shapes, classes) and Dataset (tensors split three ways)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import BlobError

MODALITIES = ("table", "image", "sequence", "text", "video")
TASKS = ("classify", "regress", "forecast", "tag", "translate")

# Shapes of one sample (no batch dimension), by modality:
#   table    (F,)          float features, already encoded and scaled
#   image    (C, H, W)     float in [0, 1]
#   sequence (L, C)        float, time first (channels-last, as recurrent networks read it)
#   text     (L,)          int64 token ids, 0 = padding
#   video    (T, C, H, W)  float in [0, 1]


@dataclass(frozen=True)
class Spec:
    """Everything a model needs to adapt to a data set, and everything predict needs to read new inputs.

    ``n_outputs`` is the number of classes for ``classify`` and the number of targets for ``regress``.
    ``extra`` holds JSON-able details a loader needs to prepare new inputs the same way (scalers,
    category codes, vocabularies). ``extra["stepwise"]`` marks a sequence whose steps are the task's atomic
    symbols (the adding problem, copy memory, digits pixel by pixel): recurrent models never read it in frames.
    """

    name: str
    modality: str
    task: str
    input_shape: tuple[int, ...]
    n_outputs: int
    classes: tuple[str, ...] = ()
    vocab_size: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise BlobError(f"Unknown modality {self.modality!r}; valid: {', '.join(MODALITIES)}.")
        if self.task not in TASKS:
            raise BlobError(f"Unknown task {self.task!r}; valid: {', '.join(TASKS)}.")
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))

    @property
    def is_classification(self) -> bool:
        return self.task in ("classify", "tag")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Spec":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass
class Split:
    """One split: inputs ``x`` (N, *input_shape), targets ``y`` (N,) or (N, T), optional ``lengths`` (N,)."""

    x: torch.Tensor
    y: torch.Tensor
    lengths: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, idx: torch.Tensor | np.ndarray) -> "Split":
        idx = torch.as_tensor(idx, dtype=torch.long)
        return Split(self.x[idx], self.y[idx], None if self.lengths is None else self.lengths[idx])

    def to(self, device: torch.device | str) -> "Split":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Split(move(self.x), move(self.y), move(self.lengths))


@dataclass
class Dataset:
    """A Spec and its three splits. The test split is only touched for final numbers.

    ``extra_tests`` are named variants of the test split (digits shifted or rotated, say) that a
    trained model is also measured on, so one training run answers "does it still work when...".
    """

    spec: Spec
    train: Split
    val: Split
    test: Split
    meta: dict[str, Any] = field(default_factory=dict)
    extra_tests: dict[str, Split] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> "Dataset":
        return Dataset(self.spec, self.train.to(device), self.val.to(device), self.test.to(device), self.meta,
                       {k: v.to(device) for k, v in self.extra_tests.items()})

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def __repr__(self) -> str:
        s = self.spec
        return (
            f"Dataset({s.name!r}, {s.modality}/{s.task}, input {s.input_shape}, outputs {s.n_outputs}, "
            f"train/val/test {len(self.train)}/{len(self.val)}/{len(self.test)})"
        )


PART_NAMES = {2: ("training", "validation"), 3: ("training", "validation", "test")}


class TooFewToSplit(BlobError):
    """Too few examples for every part of a split to get one.

    The message says how many there are and how many are needed, after the file it is about: ``named_by``
    adds that. A data set's name stands in only until a file's path is known (``data.load`` adds it)."""

    def __init__(self, reason: str, source: object = None, sure: bool = False):
        super().__init__(reason if source is None else f"{source}: {reason}")
        self.reason, self.source, self.sure = reason, source, sure

    def named_by(self, source: object, sure: bool = True) -> TooFewToSplit:
        """The same error naming ``source``; a name given ``sure`` (a file's path) is not replaced."""
        return self if self.sure else TooFewToSplit(self.reason, source, sure)


def split_indices(
    n: int, fractions: tuple[float, ...], seed: int = 0, stratify: np.ndarray | None = None
) -> list[np.ndarray]:
    """Shuffle ``range(n)`` into parts of the given fractions (the last part takes the rest).

    With ``stratify`` (one label per item) every class is split in the same proportions, so a
    small class appears in every part where it can. Every part gets at least one item: where
    proportions rounded to whole items leave a part empty (6 rows of two classes: 2 + 1 + 0
    each), the largest part gives it one, keeping (stratified) one item of every class in the
    first, training, part while the items allow (at least one per class plus one per later
    part); below that a class may be left out of training. Fewer items than parts raise
    ``TooFewToSplit``.

    >>> [len(p) for p in split_indices(6, (0.7, 0.15, 0.15), stratify=np.array([0, 0, 0, 1, 1, 1]))]
    [3, 2, 1]
    """
    rng = np.random.default_rng(seed)
    if stratify is None:
        groups = [rng.permutation(n)]
    else:
        stratify = np.asarray(stratify)
        groups = [rng.permutation(np.flatnonzero(stratify == c)) for c in np.unique(stratify)]
    if n < len(fractions):
        raise TooFewToSplit(_too_few(n, len(fractions), stratify is not None))
    pieces: list[list[np.ndarray]] = []  # pieces[g][i]: group g's items in part i
    for g in groups:
        cuts = np.round(np.cumsum(fractions)[:-1] * len(g)).astype(int)
        pieces.append(list(np.split(g, cuts)))
    _fill_empty_parts(pieces)
    parts = [[piece[i] for piece in pieces] for i in range(len(fractions))]
    return [rng.permutation(np.concatenate(p)) if p else np.array([], dtype=int) for p in parts]


def _too_few(n: int, n_parts: int, stratified: bool) -> str:
    names = PART_NAMES.get(n_parts, tuple(f"part {i + 1}" for i in range(n_parts)))
    held_out = " and ".join(names[1:]) if n_parts <= 3 else ", ".join(names[1:])
    each = "each of " * (n_parts > 2)
    classes = (f"; for a classifier to train on every class, one of each class plus one for {each}the {held_out} "
               f"set{'s' * (n_parts > 2)}" if stratified else "")
    return (f"{n} example{'s' * (n != 1)} cannot be split into {', '.join(names[:-1])} and {names[-1]} sets; at least "
            f"{n_parts} are needed, one for each{classes}. Add examples.")


def _fill_empty_parts(pieces: list[list[np.ndarray]]) -> None:
    """Move single items so that no part is empty, each from the largest part that can spare one, out of the
    group with the most items there: first never a group's last item in part 0 (its one training example),
    then, when too few items allow that, any item but a part's last."""
    n_parts = len(pieces[0]) if pieces else 0
    for target in range(n_parts):
        for keep_training in (True, False):
            if sum(len(piece[target]) for piece in pieces) > 0:
                break
            sizes = [sum(len(piece[i]) for piece in pieces) for i in range(n_parts)]
            for donor in sorted(range(n_parts), key=lambda i: -sizes[i]):
                floor = 2 if keep_training and donor == 0 else 1
                givers = [g for g, piece in enumerate(pieces) if len(piece[donor]) >= floor]
                if sizes[donor] >= 2 and givers:
                    g = max(givers, key=lambda k: len(pieces[k][donor]))
                    pieces[g][target], pieces[g][donor] = pieces[g][donor][-1:], pieces[g][donor][:-1]
                    break


def make_dataset(
    spec: Spec,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    *,
    test: tuple[Any, Any] | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    val_fraction: float = 0.1,
    seed: int = 0,
    lengths: np.ndarray | None = None,
    test_lengths: np.ndarray | None = None,
    meta: dict[str, Any] | None = None,
) -> Dataset:
    """Build a Dataset from arrays: split train/val/test (stratified for classes), or, when a test
    set is given, carve the validation split out of the training data. Given ``lengths`` (sequences of
    varying length), the Spec records ``variable_length`` in its ``extra``."""
    x_t, y_t = _as_x(x, spec), _as_y(y, spec)
    len_t = None if lengths is None else torch.as_tensor(np.asarray(lengths), dtype=torch.long)
    if len_t is not None:
        spec.extra["variable_length"] = True  # kept with a checkpoint: predict then takes shorter sequences too
    strat = y_t.numpy() if spec.task == "classify" and y_t.ndim == 1 else None
    full = Split(x_t, y_t, len_t)
    try:
        if test is None:
            tr, va, te = split_indices(len(x_t), fractions, seed, strat)
            return Dataset(spec, full.subset(tr), full.subset(va), full.subset(te), dict(meta or {}))
        tr, va = split_indices(len(x_t), (1 - val_fraction, val_fraction), seed, strat)
    except TooFewToSplit as e:
        source = (meta or {}).get("source")
        raise (e.named_by(source) if source else e.named_by(f"Data set {spec.name!r}", sure=False)) from None
    lt = None if test_lengths is None else torch.as_tensor(np.asarray(test_lengths), dtype=torch.long)
    test_split = Split(_as_x(test[0], spec), _as_y(test[1], spec), lt)
    if len(test_split) == 0:
        raise BlobError(f"{(meta or {}).get('source') or spec.name}: its test set holds no examples; give at least "
                        "one, or leave the test set out to have one split off the training data.")
    return Dataset(spec, full.subset(tr), full.subset(va), test_split, dict(meta or {}))


def _as_x(x: Any, spec: Spec) -> torch.Tensor:
    dtype = torch.long if spec.modality == "text" else torch.float32
    t = torch.as_tensor(np.asarray(x), dtype=dtype)
    if spec.modality != "text" and not torch.isfinite(t).all():
        raise BlobError(f"Data set {spec.name!r} has NaN or infinite inputs; clean or impute them first.")
    return t.contiguous()


def _as_y(y: Any, spec: Spec) -> torch.Tensor:
    dtype = torch.long if spec.is_classification else torch.float32
    return torch.as_tensor(np.asarray(y), dtype=dtype).contiguous()
