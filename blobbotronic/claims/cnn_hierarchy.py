"""Claim: a CNN's filters scan the image; early layers respond to edges, later ones to shapes and objects.

Measured with linear probes: after each convolutional block, how well can a linear classifier read the
digit's class from the block's feature maps? If later blocks hold more object-level information, the
probe's test accuracy rises with depth. The first layer's filters are drawn for the reader to judge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import Claim, Context, Evidence, Verdict, register, stat

DATA = {"quick": "digits", "full": "mnist_5k"}
RISE = 0.02  # the last block's probe must beat the raw pixels' by this much
SLACK = 0.01  # a block may trail the one before by at most this much
PROBE_TRAIN = 2000


def block_outputs(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The input and each conv block's output (after its ReLU, and its pooling when it pools), flattened."""
    pools = (torch.nn.MaxPool1d, torch.nn.MaxPool2d)
    mods = list(model.body)
    outs, h = [x.flatten(1)], x
    with torch.no_grad():
        for i, layer in enumerate(mods):
            h = layer(h)
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            if isinstance(layer, pools) or (isinstance(layer, torch.nn.ReLU) and not isinstance(nxt, pools)):
                outs.append(h.flatten(1))
    return outs


def probe(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor, test_y: torch.Tensor) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(train_f.numpy())
    clf = LogisticRegression(max_iter=300).fit(sc.transform(train_f.numpy()), train_y.numpy())
    return float(clf.score(sc.transform(test_f.numpy()), test_y.numpy()))


def measure(ctx: Context) -> dict[str, Any]:
    from ..data import load
    from ..explain.figures import filters_figure
    from ..explain.filters import first_filters
    from ..train import train

    ds = load(DATA[ctx.mode])
    per_seed, accs = [], []
    for seed in ctx.seeds:
        run = train(ds, "cnn", seed=seed, quiet=True)
        model = run.model.cpu().eval()
        accs.append(run.metrics["accuracy"])
        tr = block_outputs(model, ds.train.x[:PROBE_TRAIN].cpu())
        te = block_outputs(model, ds.test.x.cpu())
        per_seed.append([probe(a, ds.train.y[:PROBE_TRAIN].cpu(), b, ds.test.y.cpu()) for a, b in zip(tr, te)])
        if seed == ctx.seeds[0]:
            fig = filters_figure(first_filters(model).numpy(), ctx.out / "cnn-hierarchy-filters.png",
                                 f"First-layer filters of a CNN trained on {ds.spec.name}")
    table = np.array(per_seed)  # (seeds, layers)
    layers = ["pixels"] + [f"block {i}" for i in range(1, table.shape[1])]
    probes = {name: stat(list(table[:, j])) for j, name in enumerate(layers)}
    return {"data": ds.spec.name, "probes": probes, "cnn_accuracy": stat(accs), "filters_png": str(fig)}


def decide(ev: Evidence) -> Verdict:
    probes = ev.measured["probes"]
    means = [s.mean for s in probes.values()]
    rises = means[-1] - means[0] >= RISE
    steady = all(b >= a - SLACK for a, b in zip(means, means[1:]))
    key = "linear probe accuracy: " + ", ".join(f"{k} {v.mean:.3f}" for k, v in probes.items())
    rule = (f"a linear classifier reads the class from each block's feature maps (test accuracy); supported if the "
            f"last block beats the raw pixels by >= {RISE} and no block trails the one before by more than {SLACK}; "
            "refuted if the last block is no better than the pixels; mixed otherwise")
    verdict = "supported" if rises and steady else ("refuted" if means[-1] <= means[0] else "mixed")
    return Verdict(verdict, key, rule, {k: v.mean for k, v in probes.items()})


def figures(ev: Evidence, out: Path) -> list[tuple[Path, str]]:
    from .figures import lines

    series = {"probe accuracy": [(i, s.mean, s.low, s.high) for i, s in enumerate(ev.measured["probes"].values())]}
    p = lines(series, Path(out) / "cnn-hierarchy.png", "depth (0 = pixels)", "linear probe test accuracy",
              f"What each block's features say about the class ({ev.measured['data']})")
    return [(Path(ev.measured["filters_png"]), "The first layer's learned filters (seed 0)."),
            (p, "Linear-probe accuracy by depth, mean and 95% interval over seeds.")]


register(Claim(
    id="cnn-hierarchy",
    claim="A CNN's filters scan the image; early layers respond to edges, later ones to shapes and objects.",
    experiment="A CNN trained on real digits; its first-layer filters drawn; a linear probe on the pixels and on "
               "each block's feature maps measures how much class (object-level) information each depth holds.",
    arms=[], decide=decide, measure=measure, figures=figures, order=30,
))
