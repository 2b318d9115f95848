"""Claims: a CNN recognises an object wherever it appears in the picture, and whatever its rotation.

Both claims share one experiment: CNN and MLP trained on centred MNIST digits (mnist_5k), then judged
on the same test digits shifted by 2, 4 and 6 pixels and rotated by 15 to 180 degrees.
"""

from __future__ import annotations

from pathlib import Path

from ..data.builtin import ANGLES
from .base import Arm, Claim, Evidence, Verdict, register
from .figures import lines

DATA = "mnist_5k:robustness=1"
SHIFTS = (2, 4, 6)
KEEPS = 0.90  # "recognises" = keeps at least this share of its accuracy on centred, upright digits
SHIFT = 4  # the shift (pixels, of 28) the position verdict is read at
ANGLE = 45  # the rotation (degrees) the rotation verdict is read at
ARMS = [Arm("cnn", "cnn", (DATA,)), Arm("mlp", "mlp", (DATA,))]
BUDGET = {"quick": "4 epochs", "full": None}


def _curve(ev: Evidence, arm: str, names: list[tuple[float, str]]) -> list[tuple[float, float, float, float]]:
    out = []
    for x, name in names:
        s = ev.metric(arm, DATA, name)
        out.append((x, s.mean, s.low, s.high))
    return out


def decide_position(ev: Evidence) -> Verdict:
    name = f"accuracy@shift{SHIFT}"
    cnn0, cnn_k, mlp_k = ev.metric("cnn", DATA), ev.metric("cnn", DATA, name), ev.metric("mlp", DATA, name)
    gap = ev.paired("cnn", "mlp", DATA, name)
    kept = cnn_k.mean / cnn0.mean
    key = f"shifted {SHIFT} px: CNN keeps {kept:.0%} of its accuracy ({cnn_k}); MLP {mlp_k}"
    rule = (f"supported if the CNN keeps >= {KEEPS:.0%} of its centred accuracy at a {SHIFT}-pixel shift; "
            "refuted if it does no better than the MLP there (paired difference's interval reaches 0); mixed if "
            "it drops below that share but clearly beats the MLP")
    verdict = "supported" if kept >= KEEPS else ("refuted" if gap.low <= 0 else "mixed")
    return Verdict(verdict, key, rule, {"cnn_kept": kept, "cnn_shifted": cnn_k.mean, "mlp_shifted": mlp_k.mean,
                                        "cnn_minus_mlp": gap.mean})


def decide_rotation(ev: Evidence) -> Verdict:
    name = f"accuracy@rot{ANGLE}"
    cnn0, cnn_a, mlp_a = ev.metric("cnn", DATA), ev.metric("cnn", DATA, name), ev.metric("mlp", DATA, name)
    kept = cnn_a.mean / cnn0.mean
    key = f"rotated {ANGLE} degrees: CNN keeps {kept:.0%} of its accuracy ({cnn_a}); MLP {mlp_a}"
    rule = (f"supported if the CNN keeps >= {KEEPS:.0%} of its upright accuracy at {ANGLE} degrees; refuted if it "
            f"keeps less than 75%; mixed in between")
    verdict = "supported" if kept >= KEEPS else ("refuted" if kept < 0.75 else "mixed")
    return Verdict(verdict, key, rule, {"cnn_kept": kept, "cnn_rotated": cnn_a.mean, "mlp_rotated": mlp_a.mean})


def figure_position(ev: Evidence, out: Path) -> list[tuple[Path, str]]:
    names = [(0.0, "accuracy")] + [(float(k), f"accuracy@shift{k}") for k in SHIFTS]
    p = lines({a.label: _curve(ev, a.label, names) for a in ARMS}, Path(out) / "cnn-position.png",
              "shift (pixels)", "test accuracy", "Trained centred, tested shifted")
    return [(p, "Test accuracy against the shift of the test digits (mean and 95% interval over seeds).")]


def figure_rotation(ev: Evidence, out: Path) -> list[tuple[Path, str]]:
    names = [(0.0, "accuracy")] + [(float(a), f"accuracy@rot{a}") for a in ANGLES]
    p = lines({a.label: _curve(ev, a.label, names) for a in ARMS}, Path(out) / "cnn-rotation.png",
              "rotation (degrees)", "test accuracy", "Trained upright, tested rotated", hline=0.1)
    return [(p, "Test accuracy against the rotation of the test digits; dashed: chance.")]


register(Claim(
    id="cnn-position",
    claim="A CNN recognises an object wherever it appears in the picture.",
    experiment="CNN and MLP trained on centred MNIST digits, tested on the same digits shifted by 2, 4 and 6 "
               "pixels in one of eight directions.",
    arms=ARMS, decide=decide_position, figures=figure_position, budget=BUDGET, order=50,
))
register(Claim(
    id="cnn-rotation",
    claim="A CNN recognises an object whatever its rotation.",
    experiment="The same models (no rotation augmentation), tested on the digits rotated by 15 to 180 degrees.",
    arms=ARMS, decide=decide_rotation, figures=figure_rotation, budget=BUDGET, order=60,
))
