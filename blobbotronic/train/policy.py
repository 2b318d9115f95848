"""The training policy: batch size, length, learning-rate schedule and stopping, derived from the data.

A run that is given no budget follows this policy, the same for every model family and for built-in
and file data alike; a named preset or ``--budget`` replaces it. The reasons, one per rule:

* **Batch size** ``min(100, max(16, n_train // 8))``, never above the training set: a set of a few
  dozen examples gets several steps an epoch instead of one full-batch step (minibatch noise helps
  small sets generalise, and the usual deep-learning recipes for the UCR archive use batches of at
  most 16), while large sets keep the batch of 100 that the reference MNIST-1D models use.
* **Length** is decided by the validation curve, not by a fixed count: the learning rate stays at the
  family's rate after a short warm-up while validation improves, halves after ``patience / 2`` checks
  without improvement (twice at most), and the run stops after ``patience / 2`` more such checks at
  the lowest rate: a plateau seen three times, once per rate. The cap on steps (``EPOCHS_CAP``
  epochs, at least ``MIN_CAP`` and at most ``MAX_CAP`` steps) only bounds a run that keeps improving;
  a run that reaches it while still improving is reported as not converged (see ``convergence``).
* **Checks**: every ``max(10, epoch, 2 * n_val / batch)`` steps, at most ``MAX_EVERY``: an epoch (or
  twice the validation set) between checks keeps checking under a sixth of the time, ten steps keep a
  tiny set's plateau from being judged on a handful of steps.
* **Best weights**: the best validation check's (ties on the headline metric go to the lower
  validation loss) are kept and tested, so a long tail after the best costs time, never accuracy.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from .budget import Budget

BATCH_MAX, BATCH_MIN, BATCH_DIVISOR = 100, 16, 8
EPOCHS_CAP, MIN_CAP, MAX_CAP = 300, 3000, 20000
MIN_EVERY, MAX_EVERY = 10, 500
PATIENCE = 10  # validation checks; the plateau schedule halves the rate every PATIENCE // 2 of them
HALVINGS = 2
WARMUP_STEPS = 50
FIT_TOLERANCE = 0.01
MIN_CHECKS = 8  # a run stopped by its budget with fewer checks cannot show a plateau
SMOOTH = 3  # checks averaged when judging the validation curve


def batch_size(n_train: int) -> int:
    """The policy's batch size for ``n_train`` training examples.

    >>> batch_size(29), batch_size(160), batch_size(4000), batch_size(10)
    (16, 20, 100, 10)
    """
    return max(1, min(n_train, BATCH_MAX, max(BATCH_MIN, n_train // BATCH_DIVISOR)))


def step_cap(n_train: int, batch: int) -> int:
    """The most steps a policy run may take: EPOCHS_CAP epochs, within [MIN_CAP, MAX_CAP].

    >>> step_cap(29, 16), step_cap(3200, 100), step_cap(100_000, 100)
    (3000, 9600, 20000)
    """
    per_epoch = max(1, n_train // max(1, batch))
    return int(min(MAX_CAP, max(MIN_CAP, EPOCHS_CAP * per_epoch)))


def check_every(n_train: int, n_val: int, batch: int) -> int:
    """Steps between validation checks under the policy.

    >>> check_every(29, 7, 16), check_every(3200, 800, 100), check_every(12000, 2600, 100)
    (10, 32, 120)
    """
    per_epoch = max(1, n_train // max(1, batch))
    return int(min(MAX_EVERY, max(MIN_EVERY, per_epoch, math.ceil(2 * n_val / max(1, batch)))))


def budget(n_train: int, batch: int) -> Budget:
    return Budget(steps=step_cap(n_train, batch))


class Plateau:
    """The policy's schedule: the learning-rate factor and the decision to stop, from the validation checks.

    >>> p = Plateau(patience=4, warmup=0)
    >>> for step in range(10, 130, 10):  # improves until step 30, then never again
    ...     p.observe(step, improved=step <= 30)
    >>> p.halvings, p.done, p.factor(120)
    (2, True, 0.25)
    """

    def __init__(self, patience: int = PATIENCE, warmup: int = WARMUP_STEPS, halvings: int = HALVINGS,
                 stops: bool = True):
        self.wait = max(1, patience // 2)
        self.warmup, self.max_halvings, self.stops = warmup, halvings, stops
        self.halvings, self.stale, self.done = 0, 0, False
        self.lowest_loss = math.inf
        self.recent: deque[float] = deque(maxlen=SMOOTH)

    def factor(self, step: int) -> float:
        ramp = min(1.0, (step + 1) / self.warmup) if self.warmup else 1.0
        return ramp * 0.5**self.halvings

    def observe(self, step: int, improved: bool) -> None:
        """One validation check: a check without improvement counts towards the next halving or the stop."""
        self.stale = 0 if improved else self.stale + 1
        if self.stale >= self.wait:
            if self.halvings < self.max_halvings:
                self.halvings, self.stale = self.halvings + 1, 0
            else:
                self.done = self.stops

    def smoothed(self, signed_metric: float) -> float:
        """The check's score: the mean of the signed validation headline over this and the previous SMOOTH - 1
        checks, so that one lucky check on a validation split of a handful of examples does not pick the weights."""
        self.recent.append(signed_metric)
        return sum(self.recent) / len(self.recent)

    def fitting(self, train_loss: float) -> bool:
        """Whether the training loss fell by more than FIT_TOLERANCE (relative) below its lowest so far: a model
        still fitting its training set has not plateaued, even where a small validation split cannot tell."""
        if not math.isfinite(train_loss):
            return False
        falling = train_loss < self.lowest_loss * (1 - FIT_TOLERANCE)
        self.lowest_loss = min(self.lowest_loss, train_loss)
        return falling



def improving(history: list[dict[str, float]], metric: str, higher: bool, tail: float = 0.25) -> bool:
    """Whether the validation headline metric was still rising at the end of a run: the best of the last
    quarter of checks beats the best before it by more than a hair (1e-3 relative, 1e-4 absolute).

    >>> h = [{"val_accuracy": a} for a in (0.5, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7, 0.9)]
    >>> improving(h, "accuracy", True), improving(h[:-1], "accuracy", True)
    (True, False)
    """
    vals = [h.get(f"val_{metric}") for h in history]
    vals = [float(v) for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
    if len(vals) < 4:
        return len(vals) >= 2 and (vals[-1] > vals[0] if higher else vals[-1] < vals[0])
    cut = len(vals) - max(1, round(tail * len(vals)))
    before, after = vals[:cut], vals[cut:]
    sign = 1.0 if higher else -1.0
    best_before, best_after = max(sign * v for v in before), max(sign * v for v in after)
    return best_after - best_before > max(1e-4, 1e-3 * abs(best_before))


def convergence(history: list[dict[str, float]], metric: str, higher: bool, best_step: int, steps: int,
                stopped: str) -> dict[str, Any]:
    """Where the best validation check was and whether the run had converged when it stopped.

    A run converged when early stopping saw its plateau (``stopped == "early"``), when it had nothing to
    learn, or when its validation metric was no longer rising over the last quarter of its checks. A run
    that ran out of budget while still improving, or after fewer than MIN_CHECKS checks, did not, and its
    suggested budget is twice its steps (at least MIN_CHECKS checks' worth).
    """
    # early stopping saw a plateau of its smoothed curve: a raw spike in the tail is not "still improving"
    rising = stopped not in ("early", "untrained") and improving(history, metric, higher)
    every = max(1, steps // max(1, len(history)))  # steps between checks
    short = stopped not in ("early", "untrained") and len(history) < MIN_CHECKS
    converged = stopped in ("early", "untrained") or not (rising or short)
    why = ("early stopping saw the plateau" if stopped == "early" else "nothing to train" if stopped == "untrained"
           else "still improving over its last quarter of checks" if rising
           else f"only {len(history)} validation checks, too few to show a plateau" if short
           else "flat over its last quarter of checks")
    return {"best_step": int(best_step), "steps": int(steps), "checks": len(history), "improving": bool(rising),
            "converged": bool(converged), "why": why,
            "suggested_budget": None if converged else f"{max(2 * steps, MIN_CHECKS * every)} steps"}
