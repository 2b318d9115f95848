"""The tag task: per-token classification with entity-level precision, recall and F1.

Targets are (N, L) tag ids with -100 where there is no token; model outputs are (N, L, n_tags).
Entities are read from BIO tags as (type, start, end) spans; a predicted entity counts only when its
span and type both match a true one exactly (the CoNLL convention).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .task_base import TASK_KINDS, Task

IGNORE = -100


def bio_spans(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """Entities in a BIO tag sequence as (type, start, end) with ``end`` exclusive. An ``I-X`` that does
    not continue an entity of type X starts a new one (as conlleval reads it).

    >>> sorted(bio_spans(["B-PER", "I-PER", "O", "B-LOC", "I-ORG"]))
    [('LOC', 3, 4), ('ORG', 4, 5), ('PER', 0, 2)]
    """
    spans = set()
    kind, start = None, 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, t = tag.partition("-")
        continues = prefix == "I" and t == kind
        if kind is not None and not continues:
            spans.add((kind, start, i))
            kind = None
        if prefix in ("B", "I") and not continues:
            kind, start = t, i
    return spans


def entity_scores(true: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 over sentences of BIO tags (exact span and type).

    >>> entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])["entity_f1"]
    1.0
    >>> entity_scores([["B-PER", "I-PER", "O"]], [["B-LOC", "I-LOC", "O"]])["entity_f1"]
    0.0
    """
    tp = n_true = n_pred = 0
    for t, p in zip(true, pred, strict=True):
        ts, ps = bio_spans(t), bio_spans(p)
        tp += len(ts & ps)
        n_true += len(ts)
        n_pred += len(ps)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "entity_precision": precision,
        "entity_recall": recall,
        "entity_f1": f1,
        "entities_true": float(n_true),
        "entities_predicted": float(n_pred),
    }


def _valid(y: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """(N, L) True at real tokens: where the target is not ignored and within the length."""
    mask = y != IGNORE
    if lengths is not None:
        mask &= torch.arange(y.shape[1], device=y.device)[None] < lengths.to(y.device)[:, None]
    return mask


@TASK_KINDS.register("tag")
class Tag(Task):
    """Cross-entropy over real tokens only; headline entity F1 (token accuracy flatters the 'O' tag).

    A tagger with a CRF output layer (models/crf.py) scores whole taggings, not tokens one by one. Its training
    output carries the CRF (``crf_nll``): the loss is then the CRF's negative log-likelihood of the gold tagging,
    summed over sentences and divided by the real tokens, as the cross-entropy is. In evaluation such a model's
    own forward decodes (Viterbi), and its step scores' argmax is the decoded tag, so metrics score what it
    would really tag; the reported validation ``loss`` is then the cross-entropy of those step scores.
    """

    headline, higher_is_better = "entity_f1", True

    def loss(self, out, y, lengths=None):
        mask = _valid(y, lengths)
        crf_nll = getattr(out, "crf_nll", None)
        if crf_nll is not None:
            return crf_nll(torch.where(mask, y, torch.zeros_like(y)), mask).sum() / mask.sum().clamp_min(1)
        target = torch.where(mask, y, torch.full_like(y, IGNORE))
        return nn.functional.cross_entropy(out.float().flatten(0, 1), target.flatten(), ignore_index=IGNORE)

    def metrics(self, out, y, lengths=None):
        mask = _valid(y, lengths)
        pred = out.argmax(-1)
        names = self.spec.classes
        true_tags, pred_tags = [], []
        for p_row, y_row, m_row in zip(pred.tolist(), y.tolist(), mask.tolist(), strict=True):
            true_tags.append([names[v] for v, m in zip(y_row, m_row, strict=True) if m])
            pred_tags.append([names[v] for v, m in zip(p_row, m_row, strict=True) if m])
        return {
            **entity_scores(true_tags, pred_tags),
            "token_accuracy": ((pred == y) & mask).sum().item() / max(1, mask.sum().item()),
            "loss": self.loss(out, y, lengths).item(),
        }
