"""Honest generators for long-lag memory tasks: the adding problem and the temporal-order problem.

Both come from Hochreiter & Schmidhuber (1997, "Long short-term memory", experiments 4 and 6a), the
tasks that showed a vanilla RNN forgetting what an LSTM keeps. Here ``lag`` is the sequence length
L, so that one number sets how far back the model must remember:

- ``adding``: 2 channels per step, a value drawn uniformly from [0, 1] and a marker that is 1 at
  exactly two steps and 0 elsewhere. The first marker lies uniformly in the first half of the
  sequence, the second uniformly in the second half (the modern form used by Le et al. 2015 and
  Arjovsky et al. 2016; the 1997 paper put the first marker among the first ten steps). The target
  is the sum of the two marked values. The first marked value is at least L/2 steps before the end.
  Always guessing the mean (1.0) scores an MSE of Var(U1 + U2) = 1/6 ~ 0.167; "solved" is MSE < 0.04.
- ``temporal_order``: each step is one symbol, one-hot over 6 channels (X, Y, a, b, c, d). Two
  relevant symbols, each X or Y, sit at t1 in [0.1 L, 0.2 L] and t2 in [0.5 L, 0.6 L] (the 1997
  positions 10-20 and 50-60 of a length-100 sequence, scaled); every other step is a distractor
  a-d. The class is the order: XX, XY, YX or YY (chance 25%). The paper's start and end symbols
  (B, E) carry no information and are left out.

Every data set is deterministic given ``(lag, n, seed)``: the same arguments give the same tensors.
"""

from __future__ import annotations

import numpy as np

from ..errors import BlobError
from .builtin import DATASETS
from .spec import Dataset, Spec, make_dataset

DEFAULT_LAG = 100
DEFAULT_N = 6000
FRACTIONS = (0.8, 0.1, 0.1)  # train / validation / test
SYMBOLS = ("X", "Y", "a", "b", "c", "d")
ORDER_CLASSES = ("XX", "XY", "YX", "YY")


def _check(task: str, lag: int, n: int, smallest: int) -> None:
    if int(lag) != lag or lag < smallest:
        raise BlobError(f"The {task} problem needs a whole-number lag (sequence length) of at least {smallest}, "
                        f"got {lag!r}.")
    if int(n) != n or n < 10:
        raise BlobError(f"The {task} problem needs at least 10 sequences (n), got {n!r}.")


def source_name(task: str, lag: int, n: int = DEFAULT_N, seed: int = 0) -> str:
    """The name that loads this data set again, e.g. ``adding:lag=300`` (non-default options appended)."""
    extra = "".join(f",{k}={v}" for k, v, d in (("n", n, DEFAULT_N), ("data_seed", seed, 0)) if v != d)
    return f"{task}:lag={lag}{extra}"


def adding_arrays(lag: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs (n, lag, 2), targets (n,) and marker positions (n, 2) of the adding problem."""
    values = rng.random((n, lag), dtype=np.float32)
    half = lag // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, lag, n)
    markers = np.zeros((n, lag), dtype=np.float32)
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]
    return np.stack([values, markers], -1), y.astype(np.float32), np.stack([first, second], 1)


def temporal_order_arrays(lag: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-hot inputs (n, lag, 6), class ids (n,) and the two relevant positions (n, 2)."""
    lo1, hi1 = max(0, round(0.1 * lag)), max(0, round(0.2 * lag))
    lo2, hi2 = max(hi1 + 1, round(0.5 * lag)), min(lag - 1, max(hi1 + 1, round(0.6 * lag)))
    symbols = rng.integers(2, len(SYMBOLS), (n, lag))  # distractors a-d everywhere
    t1 = rng.integers(lo1, hi1 + 1, n)
    t2 = rng.integers(lo2, hi2 + 1, n)
    first_y, second_y = rng.integers(0, 2, n), rng.integers(0, 2, n)  # 0 = X, 1 = Y
    rows = np.arange(n)
    symbols[rows, t1] = first_y
    symbols[rows, t2] = second_y
    x = np.eye(len(SYMBOLS), dtype=np.float32)[symbols]
    return x, (2 * first_y + second_y).astype(np.int64), np.stack([t1, t2], 1)


def make_adding(lag: int = DEFAULT_LAG, n: int = DEFAULT_N, seed: int = 0) -> Dataset:
    """The adding problem with sequences of length ``lag``: n sequences split 80/10/10.

    >>> ds = make_adding(lag=20, n=100, seed=1)
    >>> ds.spec.input_shape, ds.spec.task, len(ds.train)
    ((20, 2), 'regress', 80)
    """
    _check("adding", lag, n, 2)
    x, y, _ = adding_arrays(int(lag), int(n), np.random.default_rng(seed))
    spec = Spec(source_name("adding", lag, n, seed), "sequence", "regress", (lag, 2), 1,
                extra={"task": "adding", "stepwise": True, "lag": int(lag), "channels": ["value", "marker"],
                       "solved_mse": 0.04,
                       "mean_guess_mse": 1 / 6})
    return make_dataset(spec, x, y, fractions=FRACTIONS, seed=seed)


def make_temporal_order(lag: int = DEFAULT_LAG, n: int = DEFAULT_N, seed: int = 0) -> Dataset:
    """The temporal-order problem with sequences of length ``lag``: n sequences split 80/10/10.

    >>> ds = make_temporal_order(lag=30, n=100)
    >>> ds.spec.input_shape, ds.spec.classes
    ((30, 6), ('XX', 'XY', 'YX', 'YY'))
    """
    _check("temporal_order", lag, n, 8)
    x, y, _ = temporal_order_arrays(int(lag), int(n), np.random.default_rng(seed))
    spec = Spec(source_name("temporal_order", lag, n, seed), "sequence", "classify", (lag, len(SYMBOLS)), 4,
                classes=ORDER_CLASSES,
                extra={"task": "temporal_order", "stepwise": True, "lag": int(lag), "channels": list(SYMBOLS),
                       "solved_accuracy": 0.95})
    return make_dataset(spec, x, y, fractions=FRACTIONS, seed=seed)


# The built-ins take the options after a colon: ``adding``, ``adding:lag=300``, ``load("adding", lag=300)``.
# Like every built-in, the data are fixed (data_seed 0) whatever the training seed, so seeds vary only training.


@DATASETS.register("adding", modality="sequence", task="regress", source="generated (Hochreiter & Schmidhuber 1997)",
                   options={"lag": DEFAULT_LAG, "n": DEFAULT_N, "data_seed": 0},
                   about="Adding problem: sum the two marked values of a length-`lag` sequence (adding:lag=300).")
def _adding(seed: int = 0, *, lag: int = DEFAULT_LAG, n: int = DEFAULT_N, data_seed: int = 0) -> Dataset:
    return make_adding(lag, n, data_seed)


@DATASETS.register("temporal_order", modality="sequence", task="classify",
                   source="generated (Hochreiter & Schmidhuber 1997)",
                   options={"lag": DEFAULT_LAG, "n": DEFAULT_N, "data_seed": 0},
                   about="Temporal order: classify the order of two distant X/Y symbols among distractors "
                         "(temporal_order:lag=300).")
def _temporal_order(seed: int = 0, *, lag: int = DEFAULT_LAG, n: int = DEFAULT_N, data_seed: int = 0) -> Dataset:
    return make_temporal_order(lag, n, data_seed)
