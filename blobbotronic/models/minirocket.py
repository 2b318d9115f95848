"""MiniRocket (Dempster, Schmidt & Webb 2021): fixed random filters, proportion-of-positive features, a linear readout.

The transform (84 fixed kernels of -1s and 2s at many dilations, biases from training quantiles, the proportion
of positive values against each: about 10,000 features) is models/minirocket_transform.py; this module is the
registered model around it and its readout.

The readout is linear: ridge regression on the standardised features with leave-one-out cross-validation over
the paper's ten alphas (10^-3 .. 10^3, as scikit-learn's RidgeClassifierCV), or, past 10,000 training examples,
logistic regression, as the authors advise for large sets (ridge's n x n system grows with the square of the
examples).

How it trains inside ``fit()`` (train/loop.py): nothing here is trained by gradient. The readout is an
``nn.Linear`` whose parameters are frozen (``requires_grad=False``), so fit() finds nothing for an optimiser,
and before its loop it calls the model's ``fit_readout(x, y, lengths)`` once on the whole training split: that
draws the biases, transforms the split, fits the readout in closed form and returns its costs (seconds of the
transform and of the readout, the number of features, the fit's memory). fit() then runs one step to measure the
model, checks it on the validation split and reports it as any run (stopped "untrained": nothing is left to train),
with the fit's seconds in ``train_seconds`` and the fit's memory in ``memory_mb`` where it is the larger. Why a hook
and not gradient training of the readout: the closed form is the method (ridge with built-in cross-validation
over alphas fits 10,000 weights per class in well under a second on a UCR set, where gradient descent would need
hundreds of steps and a learning rate), and the biases need the whole training split at once, which no batch
sees. A model with nothing to train by gradient also trains one seed at a time (train/batched.py), so the hook is
never skipped. The validation split is not used for fitting (leave-one-out on the training split chooses the
alpha), which keeps runs comparable with the trained models that hold it out. The temperature of the ridge
scores (a softmax of them is no probability) is fitted on the leave-one-out scores, so the loss the reports show
means something; it does not change a single prediction.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

from ..data.spec import Spec
from ..errors import BlobError
from . import MODELS, minirocket_native
from .base import Model, length_mask
from .minirocket_transform import KERNELS, MiniRocketTransform

RIDGE_ALPHAS = tuple(10 ** (-3 + 6 * i / 9) for i in range(10))  # the paper's logspace(-3, 3, 10)
RIDGE_MOST = 10_000  # training examples up to which readout="auto" fits ridge; logistic regression beyond
LOGISTIC_L2 = (1e-4, 1e-3, 1e-2, 1e-1)  # logistic readout: the L2 strengths tried on a held-out tenth
TEMPERATURES = tuple(10 ** (-1 + i / 20) for i in range(51))  # 0.1 .. 31.6: the ridge scores' softmax scale
MIB = 2**20


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


def ridge_cv(x: torch.Tensor, y: torch.Tensor, classes: int, alphas: tuple[float, ...] = RIDGE_ALPHAS
             ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Ridge regression on ±1 class targets over standardised features, the alpha chosen by leave-one-out error.

    x (n, F), y (n,) class indices -> (weight (classes, F), bias (classes,)) on the raw features, and notes
    (alpha, the softmax temperature fitted on the leave-one-out scores, working memory in bytes). Everything is
    computed from one eigendecomposition, of the n x n Gram matrix where n <= F (else of the F x F covariance):
    with eigenvectors U and eigenvalues s, the hat matrix is U diag(s / (s + alpha)) U^T, and a left-out
    example's residual is its residual divided by 1 - its hat diagonal (the intercept is not penalised: the
    features and targets are centred, adding 1/n to the diagonal). Float64 throughout.
    """
    n, nf = x.shape
    dev, dt = x.device, torch.float64
    targets = -torch.ones(n, classes, dtype=dt, device=dev)
    targets[torch.arange(n, device=dev), y] = 1.0
    tmean = targets.mean(0)
    yc = targets - tmean
    width = max(1, 2**24 // max(1, n))  # feature columns per chunk: about 128 MiB of float64 at a time
    mean, std = torch.empty(nf, dtype=dt, device=dev), torch.empty(nf, dtype=dt, device=dev)
    for sl in _chunks(nf, width):
        std[sl], mean[sl] = torch.std_mean(x[:, sl].double(), 0, correction=0)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))  # a constant feature stays as it is (and weighs 0)
    z = lambda sl: (x[:, sl].double() - mean[sl]) / std[sl]  # noqa: E731
    if n <= nf:
        gram = torch.zeros(n, n, dtype=dt, device=dev)
        for sl in _chunks(nf, width):
            zs = z(sl)
            gram += zs @ zs.T
        s, u = torch.linalg.eigh(gram)
        work = 2 * n * n * 8 + n * min(width, nf) * 8
    else:
        cov = torch.zeros(nf, nf, dtype=dt, device=dev)
        for sl in _chunks(n, max(1, 2**24 // nf)):
            zs = (x[sl].double() - mean) / std
            cov += zs.T @ zs
        s, v = torch.linalg.eigh(cov)
        keep = s > s.max() * 1e-12
        s, v = s[keep], v[:, keep]
        u = torch.zeros(n, len(s), dtype=dt, device=dev)
        for sl in _chunks(n, max(1, 2**24 // nf)):
            u[sl] = ((x[sl].double() - mean) / std) @ v
        u /= s.sqrt()
        work = 2 * nf * nf * 8 + n * len(s) * 8
    s = s.clamp_min(0)
    uty = u.T @ yc  # (r, classes)
    u2 = u * u
    best = None
    for alpha in alphas:
        h = s / (s + alpha)
        fitted = tmean + u @ (h[:, None] * uty)
        diag = 1.0 / n + u2 @ h
        loo = (targets - fitted) / (1 - diag).clamp_min(1e-12)[:, None]
        err = float((loo * loo).mean())
        if best is None or err < best[0]:
            best = (err, alpha, targets - loo)
    _, alpha, loo_scores = best
    dual = u @ ((1.0 / (s + alpha))[:, None] * uty)  # (n, classes): the weights are z^T dual
    w = torch.zeros(nf, classes, dtype=dt, device=dev)
    for sl in _chunks(nf, width):
        w[sl] = z(sl).T @ dual
    w = w / std[:, None]
    bias = tmean - mean @ w
    labels = y.to(dev)
    temperature = min(TEMPERATURES, key=lambda tt: float(F.cross_entropy(tt * loo_scores, labels)))
    return w.T.float(), bias.float(), {"alpha": alpha, "temperature": temperature, "loo_mse": best[0],
                                       "work_bytes": work}


def logistic(x: torch.Tensor, y: torch.Tensor, classes: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Multinomial logistic regression on standardised features by L-BFGS, its L2 strength (one of LOGISTIC_L2)
    chosen by the cross-entropy on a random tenth of the examples held out, then refitted on all of them."""
    mean, std = x.mean(0), x.std(0, unbiased=False)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    z = (x - mean) / std

    def fit(idx: torch.Tensor, l2: float) -> tuple[torch.Tensor, torch.Tensor]:
        w = torch.zeros(x.shape[1], classes, device=x.device, requires_grad=True)
        b = torch.zeros(classes, device=x.device, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=200, history_size=10, line_search_fn="strong_wolfe")
        zi, yi = z[idx], y[idx]

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(zi @ w + b, yi) + 0.5 * l2 * (w * w).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        return w.detach(), b.detach()

    order = torch.randperm(len(x)).to(x.device)
    held, kept = order[: max(1, len(x) // 10)], order[max(1, len(x) // 10) :]

    def held_loss(l2: float) -> float:
        w, b = fit(kept, l2)
        return float(F.cross_entropy(z[held] @ w + b, y[held]))

    l2 = min(LOGISTIC_L2, key=held_loss)
    w, b = fit(torch.arange(len(x), device=x.device), l2)
    w = w / std[:, None]
    return w.T, b - mean @ w, {"l2": l2, "work_bytes": z.numel() * z.element_size()}


@MODELS.register("minirocket", accepts=("sequence",), family="random-filters", tasks=("classify",))
class MiniRocket(Model):
    """MiniRocket (Dempster et al. 2021): fixed random filters, never trained, and a linear readout in closed form.

    84 kernels of -1s and 2s at many dilations; the proportion of positive values of each output against biases
    drawn from training series makes about 10,000 features; ridge regression reads them out. Nothing is learned
    by gradient.

    Use when: classifying time series (univariate, multivariate, variable length) and you want accuracy near the
    best trained networks in seconds, or the bar a trained network must clear: it is among the most accurate
    methods on the UCR archive for its cost. Not for images or text. Options: ``features`` (rounded down to a
    multiple of 84), ``max_dilations`` per kernel, ``readout`` (``ridge``: leave-one-out choice of alpha;
    ``logistic``: L-BFGS; ``auto``: ridge up to 10,000 training examples). Cost: each series costs about
    features x length comparisons (10^6 for length 100) plus 84 x 9 x channels multiply-adds per step and
    dilation; the fit transforms the training split once and solves one n x n eigenproblem (n training series),
    holding n x features x 4 bytes of features and 16 n^2 bytes besides; a prediction is the transform and a
    features-wide linear layer. Alternatives: ``fcn``, ``inception_time`` (trained convolutions: as accurate on
    many sets, far slower to fit).
    """

    param_help = {"readout": "the linear classifier on the features: ridge (leave-one-out alpha), logistic "
                             "regression (L-BFGS), or auto: ridge up to 10,000 training series"}

    def __init__(self, spec: Spec, *, features: int = 10_000, max_dilations: int = 32,
                 readout: Literal["auto", "ridge", "logistic"] = "auto"):
        super().__init__(spec)
        if features < KERNELS:
            raise BlobError(f"minirocket: features={features} is too few; it makes at least one feature per kernel, "
                            f"so give {KERNELS} or more (the paper: 10,000).")
        if max_dilations < 1:
            raise BlobError(f"minirocket: max_dilations={max_dilations}: give at least 1 (the paper: 32).")
        self.length, self.channels = spec.input_shape
        self.readout = readout
        self.transform = MiniRocketTransform(self.length, self.channels, features, max_dilations)
        self.head = nn.Linear(self.transform.features, spec.n_outputs)
        nn.init.zeros_(self.head.weight)  # every class equally likely until fit_readout has run
        nn.init.zeros_(self.head.bias)
        self.head.requires_grad_(False)  # fitted in closed form (fit_readout), never by gradient

    def channels_first(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        mask = length_mask(lengths, x.shape[1], x.device)
        if mask is not None:
            x = x * mask[..., None]
        return x.transpose(1, 2)

    def forward_features(self, x, lengths=None):
        return self.transform(self.channels_first(x, lengths), lengths)

    @torch.no_grad()
    def fit_readout(self, x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, Any]:
        """Fit the biases and the readout on a whole training split (called once by fit(), before its loop);
        returns the costs for the run's cost dict: fit_seconds (all of it), transform_seconds, readout_seconds,
        features, readout (ridge or logistic), alpha or l2, fit_memory_mb (the fit's tensors at their peak,
        counted from their sizes, plus the model's own)."""
        if len(x) < 2:
            raise BlobError(f"minirocket needs at least 2 training series to fit its readout; got {len(x)}.")
        cuda = x.is_cuda
        minirocket_native.usable(x)  # builds or loads the compiled transform once per process, before the clock
        if cuda:
            torch.cuda.reset_peak_memory_stats(x.device)
            before = torch.cuda.memory_allocated(x.device)
        start = time.perf_counter()
        xs = self.channels_first(x, lengths)
        self.transform.fit_biases(xs, lengths)
        feats = self.transform(xs, lengths)  # (n, features)
        transformed = time.perf_counter()
        n = len(x)
        kind = self.readout if self.readout != "auto" else ("ridge" if n <= RIDGE_MOST else "logistic")
        y = y.to(x.device).long()
        if kind == "ridge":
            w, b, notes = ridge_cv(feats, y, self.spec.n_outputs)
            t = notes["temperature"]
            w, b = w * t, b * t
        else:
            w, b, notes = logistic(feats, y, self.spec.n_outputs)
        self.head.weight.copy_(w)
        self.head.bias.copy_(b)
        if cuda:
            torch.cuda.synchronize(x.device)
        end = time.perf_counter()
        own = sum(t.numel() * t.element_size() for t in [*self.parameters(), *self.buffers()])
        peak = own + feats.numel() * feats.element_size() + max(self.transform.work_bytes(xs), notes.pop("work_bytes"))
        if cuda:
            peak = own + torch.cuda.max_memory_allocated(x.device) - before
        return {"fit_seconds": end - start, "transform_seconds": transformed - start,
                "readout_seconds": end - transformed, "features": self.transform.features, "readout": kind,
                **{k: v for k, v in notes.items() if k in ("alpha", "temperature", "l2")},
                "fit_memory_mb": peak / MIB}
