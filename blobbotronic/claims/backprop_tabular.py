"""Claim: a plain ANN trained by backpropagation serves simple statistical predictions from a few attributes."""

from __future__ import annotations

from pathlib import Path

from .base import Arm, Claim, Evidence, Verdict, register
from .figures import bars

GOOD = 0.90  # test accuracy a useful diagnostic aid should reach on breast_cancer
TOLERANCE = 0.02  # the MLP may trail the linear baseline by this much and still count as serving


def decide(ev: Evidence) -> Verdict:
    mlp, logit = ev.metric("mlp", "breast_cancer"), ev.metric("logistic", "breast_cancer")
    diff = ev.paired("mlp", "logistic", "breast_cancer")
    key = f"MLP {mlp} vs logistic {logit} (difference {diff.mean:+.3f})"
    rule = (f"supported if the MLP's mean test accuracy >= {GOOD} and it trails logistic regression by no more "
            f"than {TOLERANCE} (lower bound of the paired difference); refuted if below {GOOD}")
    if mlp.mean < GOOD:
        verdict = "refuted"
    elif diff.low >= -TOLERANCE:
        verdict = "supported"
    else:
        verdict = "mixed"
    return Verdict(verdict, key, rule, {"mlp": mlp.mean, "logistic": logit.mean, "difference": diff.mean})


register(Claim(
    id="backprop-tabular",
    claim="A plain ANN trained by backpropagation serves simple statistical predictions from a few attributes.",
    experiment="An MLP on 30 real cell-nucleus measurements (breast_cancer: malignant or benign) against a "
               "logistic-regression baseline, same budget, several seeds.",
    arms=[Arm("mlp", "mlp", ("breast_cancer",)), Arm("logistic", "logistic", ("breast_cancer",))],
    decide=decide,
    figures=lambda ev, out: [(bars(ev, Path(out) / "backprop-tabular.png"), "Test accuracy, mean and 95% interval.")],
    order=20,
))
