"""Claims: one small declarative module per claim of the primer, each a grid plus a predicate.

Importing this package registers every claim in ``CLAIMS`` (ordered by each claim's ``order``).
"""

from __future__ import annotations

from .base import CLAIMS, Arm, Claim, ClaimResult, Evidence, Verdict, run_claim  # noqa: F401
from . import (  # noqa: E402,F401  (each module registers its claims)
    applications, backprop_tabular, cnn_hierarchy, cnn_position, hybrids, memory, perceptron, pooling_cost,
    random_filters, rnn_sequence, sequences, tcn_study,
)


def ordered() -> list[str]:
    """Claim ids in reading order."""
    return sorted(CLAIMS, key=lambda c: CLAIMS.tags(c).get("order", 100))
