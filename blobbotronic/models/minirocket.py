"""MiniRocket (Dempster, Schmidt & Webb 2021): fixed random filters, proportion-of-positive features, a linear readout.

The primer says a filter is "a matrix of randomized numbers"; MiniRocket takes that literally and never trains
one. Its 84 kernels have length 9 and weights in {-1, 2}: -1 everywhere and 2 at three of the nine positions
(every choice of three, C(9, 3) = 84), so each sums to zero. Each kernel runs at a set of dilations spread
exponentially from 1 to (length - 1) / 8, at most 32 of them; a kernel/dilation pair gets several biases, drawn
as quantiles of its convolution output on a randomly chosen training example (the quantiles are the fractional
parts of multiples of the golden ratio, a low-discrepancy sequence). Each (kernel, dilation, bias) gives one
feature: the proportion of positive values (PPV) of convolution output minus bias over the series. Half of the
kernel/dilation pairs (alternately) pad the series with zeros and count every position; the others count only
the positions where the kernel lies wholly inside the series. With the default 10,000 requested that makes
84 x 119 = 9,996 features. A multivariate series gives each kernel/dilation pair its own random subset of 1 to 9
channels, whose convolutions are summed (the paper's multivariate variant); a series of variable length is
counted over its own real steps only.

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

``MiniRocketTransform`` is the transform alone, an ordinary module of buffers: its convolutions are one matrix
product of each step's window with the fixed kernels (what conv1d computes, 2-3x faster on a CPU than conv1d's 84
thin output channels), and the PPV a comparison and a sum per bias, so it runs on a GPU as on a CPU. On one CPU
thread it is slower than aeon's compiled (numba) MiniRocket, which counts each bias in one fused loop where eager
PyTorch makes two passes over memory (bench/minirocket.py measures both).
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

from ..data.spec import Spec
from ..errors import BlobError
from . import MODELS
from .base import Model, length_mask

KERNEL = 9  # weights per kernel
KERNELS = 84  # C(9, 3): the choices of three positions (weight 2) among nine; the other six weigh -1
GOLDEN = (math.sqrt(5) + 1) / 2  # bias quantiles: the fractional parts of i x golden ratio, a low-discrepancy sequence
RIDGE_ALPHAS = tuple(10 ** (-3 + 6 * i / 9) for i in range(10))  # the paper's logspace(-3, 3, 10)
RIDGE_MOST = 10_000  # training examples up to which readout="auto" fits ridge; logistic regression beyond
LOGISTIC_L2 = (1e-4, 1e-3, 1e-2, 1e-1)  # logistic readout: the L2 strengths tried on a held-out tenth
TEMPERATURES = tuple(10 ** (-1 + i / 20) for i in range(51))  # 0.1 .. 31.6: the ridge scores' softmax scale
MIB = 2**20
CHUNK = 2**20  # convolution outputs computed and counted at a time (4 MiB of float32; measured best of 2^15-2^22)
COUNT_CHUNK = 100_000  # values compared at once (400 KiB: in a core's L2 cache)
LONG = 400  # steps from which series of one length are counted time last (equal at 427, 1.5x at 1,460)


def kernel_weights() -> torch.Tensor:
    """The 84 kernels (84, 9): -1 everywhere, 2 at each choice of three positions, in lexicographic order."""
    w = torch.full((KERNELS, KERNEL), -1.0)
    for k, where in enumerate(itertools.combinations(range(KERNEL), 3)):
        w[k, list(where)] = 2.0
    return w


def dilations(length: int, per_kernel: int, most: int = 32) -> tuple[list[int], list[int]]:
    """The distinct dilations for series of ``length`` and how many features (biases) each kernel takes at each.

    ``min(per_kernel, most)`` exponents are spread evenly over [0, log2((length - 1) / 8)] and 2^e rounded down,
    so small dilations repeat; a dilation's share of the ``per_kernel`` features is in proportion to its repeats
    (rounded down), the remainder going one at a time to the smallest dilations.

    >>> dilations(150, 119)  # GunPoint: 32 exponents over [0, log2(149 / 8)]
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 18], [30, 15, 12, 12, 4, 8, 8, 4, 4, 4, 3, 3, 3, 3, 3, 3])
    >>> dilations(5, 119)  # too short for any dilation but 1
    ([1], [119])
    """
    n = max(1, min(per_kernel, most))
    top = math.log2(max(1.0, (length - 1) / (KERNEL - 1)))
    raw = [int(2 ** (top * i / (n - 1))) if n > 1 else 1 for i in range(n)]
    unique = sorted(set(raw))
    counts = [raw.count(d) * per_kernel // n for d in unique]
    for i in range(per_kernel - sum(counts)):
        counts[i % len(counts)] += 1
    return unique, counts


def quantiles(n: int) -> torch.Tensor:
    """The first ``n`` fractional parts of i x golden ratio (i = 1, 2, ...): quantiles spread evenly in any prefix."""
    return (torch.arange(1, n + 1, dtype=torch.float64) * GOLDEN) % 1


def channel_subsets(n_dilations: int, channels: int) -> torch.Tensor:
    """(dilations, 84, channels) 0/1: the channels each kernel/dilation pair sums. Univariate: the one channel.
    Otherwise 2^u of them (u uniform in [0, log2(min(channels, 9) + 1)), rounded down: 1 to 9, few more often),
    chosen at random without replacement, from torch's global generator."""
    mask = torch.zeros(n_dilations, KERNELS, channels)
    if channels == 1:
        return mask + 1
    top = math.log2(min(channels, KERNEL) + 1)
    sizes = (2 ** (torch.rand(n_dilations, KERNELS) * top)).long().clamp(1, min(channels, KERNEL))
    for i in range(n_dilations):
        for k in range(KERNELS):
            mask[i, k, torch.randperm(channels)[: int(sizes[i, k])]] = 1
    return mask


def count_above(c: torch.Tensor, b: torch.Tensor, time_last: bool = False) -> torch.Tensor:
    """How many of each series' values exceed each bias, per kernel: c (B, T, K) or, ``time_last``, (B, K, T), and
    b (K, f) -> float (B, K, f).

    A few series at a time (about 100,000 values, in a core's cache), one bias at a time: each comparison is
    written as floats into one reused buffer and summed over time. On one CPU thread that ran at 2-3 x 10^9
    comparisons a second, where a boolean comparison summed as integers (torch's default) ran at a sixth of it.
    Short series with many biases (ItalyPowerDemand: 24 steps, 79 biases a kernel) compare every bias in one
    broadcast instead, 1.5x faster there: the per-bias loop's thousands of small calls cost more than its sums.
    Long series read best with time last (contiguous runs of steps; ACSF1's 1,460 steps: 1.5x faster).
    """
    B, T, K = (c.shape[0], c.shape[2], c.shape[1]) if time_last else c.shape
    f = b.shape[1]
    out = torch.zeros(B, f, K, device=c.device)
    if B == 0 or T == 0:
        return out.transpose(1, 2)
    cols = b.T.contiguous()[..., None] if time_last else b.T.contiguous()  # (f, K, 1) or (f, K)
    wide = f >= 12 and T < 256 and not time_last
    rows = max(1, 2 * COUNT_CHUNK // (K * T * f)) if wide else max(1, COUNT_CHUNK // (K * T))
    buf = torch.empty(min(rows, B), *c.shape[1:2], *((f,) if wide else ()), *c.shape[2:], device=c.device)
    for i in range(0, B, rows):
        part = c[i : i + rows].contiguous()  # strided inputs take torch's slow path: 5x slower here
        into, o = buf[: len(part)], out[i : i + rows]
        if wide:
            torch.gt(part[:, :, None, :], cols, out=into)
            torch.sum(into, 1, out=o)
            continue
        for j in range(f):
            torch.gt(part, cols[j], out=into)
            torch.sum(into, 2 if time_last else 1, out=o[:, j])
    return out.transpose(1, 2)


def windows(x: torch.Tensor, d: int, time_last: bool = False) -> torch.Tensor:
    """What a kernel of 9 at dilation ``d`` sees at each step of zero-padded series: (B, C, L) -> (B, L, C x 9), or
    with ``time_last`` (B, C x 9, L).

    A convolution is then one matrix product with the kernels (C x 9, 84): on one CPU thread 2-3x faster than
    conv1d's 84 thin output channels, and its output is in the layout the counting reads.
    """
    B, C, L = x.shape
    seen = F.pad(x, (4 * d, 4 * d)).unfold(2, 8 * d + 1, 1)[..., ::d]  # (B, C, L, 9)
    if time_last:
        return seen.permute(0, 1, 3, 2).reshape(B, C * KERNEL, L)
    return seen.permute(0, 2, 1, 3).reshape(B, L, C * KERNEL)


class MiniRocketTransform(nn.Module):
    """Series (B, C, L), zero beyond each one's length, -> PPV features (B, features): the fixed part of MiniRocket.

    The kernels with their channel subsets, their order and the biases are buffers (saved with the model);
    ``fit_biases`` draws the biases from a training split. ``features`` is rounded down to a multiple of 84.
    Features come in blocks, one per dilation (ascending), each 84 kernels x that dilation's biases: first the 42
    kernels that count every zero-padded position, then the 42 that count only where the kernel fits inside the
    series (``order[i]`` gives the kernels' numbers in kernel_weights() at dilation i). Odd and even kernels swap
    roles from one dilation to the next, so every kernel is counted both ways.
    """

    def __init__(self, length: int, channels: int, features: int = 10_000, max_dilations: int = 32):
        super().__init__()
        per_kernel = features // KERNELS
        self.dilations, self.counts = dilations(length, per_kernel, max_dilations)
        self.features = KERNELS * per_kernel
        d = len(self.dilations)
        padded = (torch.arange(d)[:, None] + torch.arange(KERNELS)[None]) % 2 == 0  # (d, 84): half of each
        order = torch.stack([torch.cat([torch.nonzero(p)[:, 0], torch.nonzero(~p)[:, 0]]) for p in padded])
        weights = channel_subsets(d, channels)[..., None] * kernel_weights()[order][:, :, None, :]
        self.register_buffer("order", order)  # (dilations, 84): kernel numbers, the padded half first
        self.register_buffer("weights", weights.flatten(2))  # (dilations, 84, C x 9): channel-major
        self.register_buffer("biases", torch.zeros(self.features))

    def blocks(self) -> list[tuple[int, int, int, int]]:
        """(index, dilation, biases per kernel, first feature) of each dilation's block of features."""
        out, start = [], 0
        for i, (d, f) in enumerate(zip(self.dilations, self.counts, strict=True)):
            out.append((i, d, f, start))
            start += KERNELS * f
        return out

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        B, _, L = x.shape
        n = None if lengths is None else lengths.to(x.device).clamp(1, L)
        if n is not None and bool((n == L).all()):
            n = None
        out = torch.empty(B, self.features, device=x.device)
        if n is None:
            rows = max(1, CHUNK // (KERNELS * L))  # series at a time: their convolutions stay in cache while counted
            for i in range(0, B, rows):
                self._features(x[i : i + rows].float(), None, out[i : i + rows])
            return out
        # Variable lengths: shortest first, each chunk cut to its longest series (the steps beyond are zeros, as
        # the padding would be), and a chunk of one length counted as such, without masks.
        order = torch.argsort(n)
        i = 0
        while i < B:
            longest = int(n[order[min(B, i + max(1, CHUNK // (KERNELS * L))) - 1]])
            rows = max(1, CHUNK // (KERNELS * longest))
            idx = order[i : i + rows]
            m = n[idx]
            longest = int(m.max())
            part = out.new_empty(len(idx), self.features)
            self._features(x[idx, :, :longest].float(), None if bool((m == longest).all()) else m, part)
            out[idx] = part
            i += len(idx)
        return out

    def _features(self, x: torch.Tensor, n: torch.Tensor | None, out: torch.Tensor) -> None:
        B, C, L = x.shape
        if n is None and L >= LONG:
            return self._long_features(x, out)
        h = KERNELS // 2
        t = torch.arange(L, device=x.device)
        for i, d, f, start in self.blocks():
            w = self.weights[i].float()
            half, other = w[:h].T.contiguous(), w[h:].T.contiguous()  # (C x 9, 42): a contiguous operand, 1.8x faster
            b = self.biases[start : start + KERNELS * f].view(KERNELS, f).float()
            seen = windows(x, d)  # (B, L, C x 9)
            inner = L > 8 * d  # the kernel fits wholly inside a full-length series somewhere
            c = (seen.reshape(B * L, -1) @ half).view(B, L, h)  # the padded half's convolutions
            if n is None:
                padded = count_above(c, b[:h]) / L
                kept = seen[:, 4 * d : L - 4 * d] if inner else seen
                c = (kept.reshape(-1, C * KERNEL) @ other).view(B, -1, h)
                fitting = count_above(c, b[h:]) / c.shape[1]
            else:  # every series counted over its own steps; one too short for the kernel to fit: padded
                real = (t[None] < n[:, None])[..., None]  # (B, L, 1)
                padded = count_above(c.masked_fill_(~real, -math.inf), b[:h]) / n[:, None, None]
                fits = n > 8 * d
                lo = torch.where(fits, 4 * d, 0)[:, None]
                hi = torch.where(fits, n - 4 * d, n)[:, None]
                inside = ((t[None] >= lo) & (t[None] < hi))[..., None]
                c = (seen.reshape(B * L, -1) @ other).view(B, L, h).masked_fill_(~inside, -math.inf)
                fitting = count_above(c, b[h:]) / (hi - lo)[..., None]
            out[:, start : start + h * f] = padded.flatten(1)
            out[:, start + h * f : start + KERNELS * f] = fitting.flatten(1)

    def _long_features(self, x: torch.Tensor, out: torch.Tensor) -> None:
        """_features for long series of one length, time last: (84, C x 9) @ (B, C x 9, L) -> (B, 84, L)."""
        B, C, L = x.shape
        h = KERNELS // 2
        for i, d, f, start in self.blocks():
            w = self.weights[i].float()
            b = self.biases[start : start + KERNELS * f].view(KERNELS, f).float()
            seen = windows(x, d, time_last=True)  # (B, C x 9, L)
            padded = count_above(torch.matmul(w[:h], seen), b[:h], time_last=True) / L
            kept = seen[..., 4 * d : L - 4 * d] if L > 8 * d else seen
            fitting = count_above(torch.matmul(w[h:], kept), b[h:], time_last=True) / kept.shape[2]
            out[:, start : start + h * f] = padded.flatten(1)
            out[:, start + h * f : start + KERNELS * f] = fitting.flatten(1)

    @torch.no_grad()
    def fit_biases(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> None:
        """Each kernel/dilation pair's biases: quantiles of its (zero-padded) convolution output over the real steps
        of one training series drawn at random (torch's global generator) for that pair."""
        N, C, L = x.shape
        n = torch.full((N,), L, device=x.device) if lengths is None else lengths.to(x.device).clamp(1, L)
        q = quantiles(self.features).to(x.device)
        t = torch.arange(L, device=x.device)
        for i, d, f, start in self.blocks():
            pick = torch.randint(N, (KERNELS,)).to(x.device)
            c = (windows(x[pick].float(), d) @ self.weights[i].float()[:, :, None])[..., 0]  # (84, L)
            m = n[pick]
            s = c.masked_fill(t[None] >= m[:, None], math.inf).sort(1).values.double()
            pos = q[start : start + KERNELS * f].view(KERNELS, f) * (m[:, None] - 1)  # numpy's 'linear' quantile
            low = pos.floor().long()
            high = torch.minimum(low + 1, m[:, None] - 1)
            a, b = s.gather(1, low), s.gather(1, high)
            self.biases[start : start + KERNELS * f] = (a + (pos - low) * (b - a)).flatten().to(self.biases.dtype)


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
        rows = min(n, max(1, CHUNK // (KERNELS * self.length)))
        conv = 4 * (rows * self.length * (KERNEL * self.channels + KERNELS) + COUNT_CHUNK)  # windows, outputs, counts
        peak = own + feats.numel() * feats.element_size() + max(conv, notes.pop("work_bytes"))
        if cuda:
            peak = own + torch.cuda.max_memory_allocated(x.device) - before
        return {"fit_seconds": end - start, "transform_seconds": transformed - start,
                "readout_seconds": end - transformed, "features": self.transform.features, "readout": kind,
                **{k: v for k, v in notes.items() if k in ("alpha", "temperature", "l2")},
                "fit_memory_mb": peak / MIB}
