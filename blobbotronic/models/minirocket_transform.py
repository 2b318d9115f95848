"""MiniRocket's transform (Dempster, Schmidt & Webb 2021): fixed kernels, dilations, biases, PPV features.

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

Two paths compute the same features. On a CPU, where the compiled kernel is built (models/minirocket_native.py,
minirocket_ppv.cpp), each kernel's output over one series is computed as -(sum of the nine taps) + 3 x (the three
taps weighing 2) and counted against its biases while it sits in L1: no output and no comparison is written to
memory. Elsewhere (a GPU, no compiler, ``BLOBBOTRONIC_NATIVE=0``, exporting) the pure-PyTorch path runs: the
convolutions are one matrix product of each step's window with the kernels (2-3x faster on a CPU than conv1d's
84 thin output channels) and the PPV a comparison and a sum per bias. The two round the convolutions
differently, so a feature may differ by one step's count where an output lies within float rounding of a bias
(tests/test_minirocket.py bounds both against a float64 definition). On one CPU thread the PyTorch path is
about 2x slower than aeon's numba MiniRocket on long series; the compiled one is faster (docs/speed.md).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F

from . import minirocket_native

KERNEL = 9  # weights per kernel
KERNELS = 84  # C(9, 3): the choices of three positions (weight 2) among nine; the other six weigh -1
TAPS = torch.tensor(list(itertools.combinations(range(KERNEL), 3)))  # (84, 3): where kernel k weighs 2
GOLDEN = (math.sqrt(5) + 1) / 2  # bias quantiles: the fractional parts of i x golden ratio, a low-discrepancy sequence
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

    def plan(self) -> tuple[torch.Tensor, ...]:
        """The blocks as the compiled kernel reads them (CPU): dilation, biases per kernel and first feature (D,),
        where each kernel weighs 2 (D, 84, 3) and the channels it sums (D, 84, C) as 0/1 floats. Read from the
        buffers at each call (cheap), so a loaded checkpoint's kernels are the ones used."""
        table = torch.tensor([b[1:] for b in self.blocks()], dtype=torch.long).T.contiguous()
        mask = (self.weights.view(*self.order.shape, -1, KERNEL) != 0).any(-1).float().cpu().contiguous()
        return table[0], table[1], table[2], TAPS[self.order.cpu()].contiguous(), mask

    def work_bytes(self, x: torch.Tensor) -> int:
        """Working memory of transforming x (B, C, L) beside its features, counted from sizes: the compiled
        path's three buffers of one series, or the PyTorch path's windows, outputs and comparisons of a chunk."""
        B, C, L = x.shape
        if minirocket_native.usable(x):
            return 4 * (3 * L + 8 * max(self.dilations)) * torch.get_num_threads()
        rows = min(B, max(1, CHUNK // (KERNELS * L)))
        return 4 * (rows * L * (KERNEL * C + KERNELS) + COUNT_CHUNK)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        B, _, L = x.shape
        if minirocket_native.usable(x):
            n = torch.full((B,), L) if lengths is None else lengths.cpu().long().clamp(1, L)
            return minirocket_native.kernels().features(x.float().contiguous(), n, *self.plan(),
                                                        self.biases.float().contiguous())
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
        of one training series drawn at random (torch's global generator) for that pair, computed as the
        transform computes it (compiled or not), so a bias drawn from a series compares with its outputs alike."""
        N, C, L = x.shape
        n = torch.full((N,), L, device=x.device) if lengths is None else lengths.to(x.device).clamp(1, L)
        q = quantiles(self.features).to(x.device)
        t = torch.arange(L, device=x.device)
        plan = self.plan() if minirocket_native.usable(x) else None
        for i, d, f, start in self.blocks():
            pick = torch.randint(N, (KERNELS,)).to(x.device)
            m = n[pick]
            qs = q[start : start + KERNELS * f].view(KERNELS, f)
            if plan is not None:  # the order statistics found in place, without sorting
                b = minirocket_native.kernels().conv_quantiles(x[pick].float(), m.long(), d, plan[3][i], plan[4][i], qs)
            else:
                c = (windows(x[pick].float(), d) @ self.weights[i].float()[:, :, None])[..., 0]  # (84, L)
                s = c.masked_fill(t[None] >= m[:, None], math.inf).sort(1).values
                pos = qs * (m[:, None] - 1)  # numpy's 'linear' quantile
                low = pos.floor().long()
                high = torch.minimum(low + 1, m[:, None] - 1)
                lo, hi = s.gather(1, low).double(), s.gather(1, high).double()
                b = lo + (pos - low) * (hi - lo)
            self.biases[start : start + KERNELS * f] = b.flatten().to(self.biases.dtype)
