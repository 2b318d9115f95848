"""Claim: pooling condenses feature maps and makes the network much faster."""

from __future__ import annotations

from pathlib import Path

from .base import Arm, Claim, Evidence, Verdict, register
from .figures import bars

MUCH_FASTER = 1.5  # training steps/s ratio (pooled / unpooled) that counts as "much faster"
ACCURACY_SLACK = 0.02  # pooling may cost at most this much accuracy
DATA = {"quick": ("digits",), "full": ("digits", "mnist_5k")}


def decide(ev: Evidence) -> Verdict:
    ratios, drops, notes = [], [], []
    for ds in dict.fromkeys(d for _, d in ev.rows):
        speed = ev.cost("pool", ds, "steps_per_second").mean / ev.cost("no pool", ds, "steps_per_second").mean
        drop = ev.paired("no pool", "pool", ds)
        mem = ev.cost("no pool", ds, "flops_per_sample").mean / max(1.0, ev.cost("pool", ds, "flops_per_sample").mean)
        ratios.append(speed)
        drops.append(drop.mean)
        notes.append(f"{ds}: {speed:.1f}x steps/s, {mem:.1f}x fewer FLOPs, accuracy {-drop.mean:+.3f}")
    rule = (f"supported if pooling gives >= {MUCH_FASTER}x training steps/s on every data set while losing at most "
            f"{ACCURACY_SLACK} accuracy; refuted if it is not faster (< 1.1x); mixed otherwise")
    if all(r >= MUCH_FASTER for r in ratios) and all(d <= ACCURACY_SLACK for d in drops):
        verdict = "supported"
    elif all(r < 1.1 for r in ratios):
        verdict = "refuted"
    else:
        verdict = "mixed"
    return Verdict(verdict, "; ".join(notes), rule, {"speedups": ratios, "accuracy_loss": drops})


def _figures(ev: Evidence, out: Path) -> list[tuple[Path, str]]:
    return [(bars(ev, Path(out) / "pooling-cost.png"), "Test accuracy with and without pooling (same budget).")]


register(Claim(
    id="pooling-cost",
    claim="Pooling condenses feature maps and makes the network much faster.",
    experiment="The same CNN (3 conv blocks, 32 filters) with 2x2 max-pooling after each block and without any, "
               "same budget: training steps/s, FLOPs, peak memory, parameters and accuracy.",
    arms=[Arm("pool", "cnn", DATA, {"pool": True}), Arm("no pool", "cnn", DATA, {"pool": False})],
    decide=decide,
    figures=_figures,
    budget={"quick": "15 epochs", "full": None},
    order=40,
))
