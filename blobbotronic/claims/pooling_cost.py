"""Claim: pooling condenses feature maps and makes the network much faster."""

from __future__ import annotations

from pathlib import Path

from .base import Arm, Claim, Evidence, Verdict, register
from .figures import bars

MUCH_LESS = 1.5  # FLOPs ratio (unpooled / pooled) that counts as "much faster": the same on every machine
FASTER = 1.1  # the measured training steps/s ratio (pooled / unpooled) must at least show this much
ACCURACY_SLACK = 0.02  # pooling may cost at most this much accuracy
DATA = {"quick": ("digits",), "full": ("digits", "mnist_5k")}


def decide(ev: Evidence) -> Verdict:
    """"Much faster" is read from the work per sample (FLOPs, a property of the network), which the measured
    training speed must confirm in direction: on 8x8 digits the measured ratio moved between 1.4x and 2.2x from
    one run to the next on this shared host (6.0x fewer FLOPs each time), and a verdict must not follow that."""
    speeds, flops, drops, notes = [], [], [], []
    for ds in dict.fromkeys(d for _, d in ev.rows):
        speed = ev.cost("pool", ds, "steps_per_second").mean / ev.cost("no pool", ds, "steps_per_second").mean
        drop = ev.paired("no pool", "pool", ds)
        less = ev.cost("no pool", ds, "flops_per_sample").mean / max(1.0, ev.cost("pool", ds, "flops_per_sample").mean)
        speeds.append(speed)
        flops.append(less)
        drops.append(drop.mean)
        notes.append(f"{ds}: {less:.1f}x fewer FLOPs, {speed:.1f}x steps/s measured, accuracy {-drop.mean:+.3f}")
    rule = (f"supported if pooling needs >= {MUCH_LESS}x fewer FLOPs per sample and trains >= {FASTER}x as many "
            f"steps/s (measured) on every data set while losing at most {ACCURACY_SLACK} accuracy; refuted if it "
            f"is not measurably faster (< {FASTER}x steps/s) on any; mixed otherwise")
    if all(f >= MUCH_LESS for f in flops) and all(r >= FASTER for r in speeds) and all(d <= ACCURACY_SLACK
                                                                                      for d in drops):
        verdict = "supported"
    elif all(r < FASTER for r in speeds):
        verdict = "refuted"
    else:
        verdict = "mixed"
    return Verdict(verdict, "; ".join(notes), rule, {"flops_ratio": flops, "speedups": speeds,
                                                     "accuracy_loss": drops})


def _figures(ev: Evidence, out: Path) -> list[tuple[Path, str]]:
    return [(bars(ev, Path(out) / "pooling-cost.png"), "Test accuracy with and without pooling (same budget).")]


register(Claim(
    id="pooling-cost",
    claim="Pooling condenses feature maps and makes the network much faster.",
    experiment="The same CNN (3 conv blocks, 32 filters) with 2x2 max-pooling after each block and without any, "
               "same budget: training steps/s, FLOPs, the run's own memory, parameters and accuracy.",
    arms=[Arm("pool", "cnn", DATA, {"pool": True}), Arm("no pool", "cnn", DATA, {"pool": False})],
    decide=decide,
    figures=_figures,
    budget={"quick": "15 epochs", "full": None},
    order=40,
))
