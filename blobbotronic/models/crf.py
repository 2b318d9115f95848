"""A linear-chain conditional random field (CRF) over a sentence's tags, with BIO constraints.

A tagger gives each token a row of tag scores, its *emissions* e (n, T). The CRF adds a score for each pair of
neighbouring tags, so a tagging y_1..y_n of the sentence scores

    s(y) = start[y_1] + sum_t e[t, y_t] + sum_{t>1} trans[y_{t-1}, y_t] + end[y_n],

and p(y | x) = exp s(y) / Z with Z the sum of exp s over every tagging (Lafferty, McCallum and Pereira 2001, the
linear-chain CRF; as the output layer of a neural tagger: Collobert et al. 2011, Huang, Xu and Yu 2015, Lample
et al. 2016, Ma and Hovy 2016). Training minimises -log p(gold | x); the forward algorithm gives log Z in
O(n T^2). Decoding is Viterbi's: the tagging of highest score, by dynamic programming in O(n T^2).

BIO constraints (``bio_rules``): an ``I-X`` may only follow ``B-X`` or ``I-X``, and a sentence may not start with
``I-X``. Forbidden transitions and starts score -inf, so the CRF gives them probability 0 and Viterbi never picks
them. A gold tagging that breaks the rule (an ``I-X`` after ``O``, as IOB1 files write an entity's start) is read
as conlleval reads it, the ``I-X`` starting an entity, i.e. as ``B-X`` (``CRF.repair``): the same entities.

Why written here rather than taken from a package: the PyTorch CRF packages on PyPI are unmaintained (pytorch-crf
0.7.2, last released in February 2019; TorchCRF 1.1.0, 2020; allencrf 1.0.2, 2021), their Viterbi decoders return
Python lists (so a tagger that decodes inside ``forward`` could not be traced for export), and none returns the
per-step decoding scores that ``CRF.decode_scores`` gives the project's tag metrics and ``predict``. The
algorithms are a few dozen lines of tensor code, tested against brute-force enumeration (tests/test_crf.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

FLOOR = -1e4  # decoding scores of impossible tags (-inf) are returned as this: finite, and still never the argmax


def _wide(e: torch.Tensor) -> torch.Tensor:
    """Scores in at least single precision (half-precision sums over a sentence lose too much)."""
    return e.to(torch.promote_types(e.dtype, torch.float32))


def bio_rules(tags: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The BIO rules for tag names: ``allowed`` (T, T), True where tag j may follow tag i; ``may_start`` (T,); and
    ``begin`` (T,), each tag's stand-in where the rules forbid it (the ``B-X`` of an ``I-X``, else the tag itself).

    Only an ``I-X`` whose ``B-X`` is among the tags is constrained (a tag set without it is IOB1-like: ``I-X``
    starts entities there); names that are not BIO tags are never constrained.

    >>> allowed, may_start, begin = bio_rules(["O", "B-PER", "I-PER"])
    >>> allowed.int().tolist(), may_start.tolist(), begin.tolist()
    ([[1, 1, 0], [1, 1, 1], [1, 1, 1]], [True, True, False], [0, 1, 1])
    """
    index = {t: i for i, t in enumerate(tags)}
    n = len(tags)
    allowed = torch.ones(n, n, dtype=torch.bool)
    may_start = torch.ones(n, dtype=torch.bool)
    begin = torch.arange(n)
    for j, tag in enumerate(tags):
        kind = tag[2:] if tag.startswith("I-") else None
        if kind is None or f"B-{kind}" not in index:
            continue
        allowed[:, j] = False
        allowed[index[f"B-{kind}"], j] = allowed[j, j] = True
        may_start[j] = False
        begin[j] = index[f"B-{kind}"]
    return allowed, may_start, begin


class CRF(nn.Module):
    """Transition, start and end scores over ``tags`` (names, or a count for unnamed tags), learned; with
    ``constrain`` the BIO rules of the names hold (``bio_rules``).

    Every method takes emissions (B, L, T) and a mask (B, L), True at real tokens: a prefix of each row, at least
    the first position (padding comes after the tokens, as the data loaders write it).
    """

    def __init__(self, tags: Sequence[str] | int, constrain: bool = True):
        super().__init__()
        names = [str(i) for i in range(tags)] if isinstance(tags, int) else list(tags)
        n = len(names)
        allowed, may_start, begin = bio_rules(names) if constrain else bio_rules([""] * n)
        self.transitions = nn.Parameter(torch.zeros(n, n))  # [previous tag, next tag]
        self.start = nn.Parameter(torch.zeros(n))
        self.end = nn.Parameter(torch.zeros(n))
        # rebuilt from the tag names: kept out of checkpoints like other derived tables
        self.register_buffer("allowed", allowed, persistent=False)
        self.register_buffer("may_start", may_start, persistent=False)
        self.register_buffer("begin", begin, persistent=False)

    def scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(transitions, start, end) with -inf where the rules forbid."""
        ninf = float("-inf")
        return (self.transitions.masked_fill(~self.allowed, ninf), self.start.masked_fill(~self.may_start, ninf),
                self.end)

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Z of each sentence (B,), by the forward algorithm: alpha[j] is the log of the summed exp-scores of
        every tagging of the tokens so far that ends in tag j; a padded position leaves it as it was."""
        trans, start, end = self.scores()
        e = _wide(emissions)
        # logsumexp_i(alpha_i + trans_ij) = m + log sum_i exp(alpha_i - m) exp(trans_ij): one (B, T) x (T, T) matrix
        # product a token instead of a logsumexp over a (B, T, T) tensor (about 3x faster forward and back on a
        # CPU). In double precision, exp(alpha - m) and exp(trans - max) lose nothing until ~700 nats of spread.
        top = trans.detach().max()
        ratio = (trans - top).double().exp()  # forbidden transitions: exp(-inf) = 0
        alpha = (start + e[:, 0]).double()  # (B, T)
        for t in range(1, e.shape[1]):
            m = alpha.detach().amax(-1, keepdim=True)
            step = ((alpha - m).exp() @ ratio).log() + m + top + e[:, t]
            alpha = torch.where(mask[:, t, None], step, alpha)
        return torch.logsumexp(alpha + end, dim=-1).to(e.dtype)

    def repair(self, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Gold tags (B, L) as the constrained CRF can score them: each tag the rules forbid where it stands becomes
        its ``begin`` (an ``I-X`` after ``O`` or at the start becomes ``B-X``, the entity conlleval reads there);
        positions outside ``mask`` become tag 0. One pass is enough, since a stand-in is of its tag's type, so
        whether the next tag may follow does not change."""
        tags = torch.where(mask, tags, torch.zeros_like(tags))
        ok = torch.cat([self.may_start[tags[:, :1]], self.allowed[tags[:, :-1], tags[:, 1:]]], dim=1)
        return torch.where(ok | ~mask, tags, self.begin[tags])

    def path_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """s(y) of the given tags (B, L) for each sentence (B,); positions outside ``mask`` do not count."""
        trans, start, end = self.scores()
        e = _wide(emissions)
        zero = e.new_zeros(())
        emit = torch.where(mask, e.gather(2, tags[..., None]).squeeze(-1), zero).sum(1)
        pairs = torch.where(mask[:, 1:], trans[tags[:, :-1], tags[:, 1:]], zero).sum(1)
        last = tags.gather(1, (mask.sum(1) - 1).clamp_min(0)[:, None]).squeeze(1)
        return start[tags[:, 0]] + emit + pairs + end[last]

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """-log p(tags | x) of each sentence (B,), the gold tags first put right by ``repair``; 0 for a sentence
        with no real token."""
        tags = self.repair(tags, mask)
        nll = self.log_partition(emissions, mask) - self.path_score(emissions, tags, mask)
        return torch.where(mask[:, 0], nll, torch.zeros_like(nll))

    def best_after(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, L, T): the best score the tokens after t can add (their emissions, transitions and the end) when
        token t takes tag k; the backward half of Viterbi's dynamic programme. At a sentence's last token (and
        at padding) it is ``end``."""
        trans, _, end = self.scores()
        e = _wide(emissions)
        B, L, T = e.shape
        last = end.expand(B, T)
        beta = [last]
        for t in range(L - 2, -1, -1):
            step = (trans + (e[:, t + 1] + beta[0])[:, None, :]).amax(dim=-1)  # max over the next tag
            beta.insert(0, torch.where(mask[:, t + 1, None], step, last))
        return torch.stack(beta, dim=1)

    def decode_scores(self, emissions: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Viterbi decoding: the best tags (B, L) (0 at padding) and step scores (B, L, T) whose argmax at each
        real position is the best tag there.

        The step score of tag k at token t is log p of the best tagging that keeps the decoded tags before t and
        puts k at t (impossible ones at FLOOR); its maximum over k, at every t, is log p of the decoded tagging.
        The tags are chosen left to right, each the best given the one before and ``best_after``: the forward
        half of the dynamic programme, read as a trace back that runs forwards."""
        trans, start, _ = self.scores()
        e = _wide(emissions)
        after = self.best_after(e, mask)
        log_z = self.log_partition(e, mask)[:, None]
        steps, tags = [], []
        prev = start.expand(e.shape[0], -1)  # each tag's score for joining the decoded prefix
        prefix = e.new_zeros(e.shape[0], 1)  # the decoded prefix's own score
        for t in range(e.shape[1]):
            here = prev + e[:, t]
            step = prefix + here + after[:, t] - log_z
            best = step.argmax(-1)
            real = mask[:, t]
            steps.append(torch.where(real[:, None], step, torch.zeros_like(step)))
            tags.append(torch.where(real, best, torch.zeros_like(best)))
            prefix = torch.where(real[:, None], prefix + here.gather(1, best[:, None]), prefix)
            prev = trans[best]  # the next token's transition scores from the tag just chosen
        return torch.stack(tags, 1), torch.stack(steps, 1).clamp_min(FLOOR)

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The Viterbi tags (B, L), 0 at padding."""
        return self.decode_scores(emissions, mask)[0]


class CRFEmissions(torch.Tensor):
    """A CRF tagger's output while training: its emissions (B, L, T), carrying the CRF that scores tag pairs.

    The tag task's loss sees only the output, never the model (train/tasks.py), so the output brings the CRF
    along: the task trains an output that has ``crf_nll`` by that loss instead of per-token cross-entropy
    (train/task_tag.py). Any operation on it gives a plain tensor (no ``__torch_function__`` of its own).
    """

    __torch_function__ = torch._C._disabled_torch_function_impl
    crf: CRF

    @classmethod
    def wrap(cls, emissions: torch.Tensor, crf: CRF) -> CRFEmissions:
        out = emissions.as_subclass(cls)
        out.crf = crf
        return out

    def crf_nll(self, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """-log p(tags | x) of each sentence (B,) under the carried CRF."""
        return self.crf.nll(self.as_subclass(torch.Tensor), tags, mask)
