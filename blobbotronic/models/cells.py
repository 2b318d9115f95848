"""The recurrent cells a hybrid can put behind its CNN, by name: ``cell="lstm"``, ``"gru"``, ``"mingru"`` or
``"minlstm"`` in ``cnn_rnn`` and ``crnn``.

Every cell is a module over (B, L, C), batch first, and ``run_cell`` gives the same two things for each: the
states at every step (B, L, D*H), padding zeroed, and each sequence's final state (B, D*H) at its last real step
(both directions' finals side by side when bidirectional). The LSTM and GRU run on the compiled kernels where they
are built (models/rnn.py ``run_rnn``); minGRU and minLSTM on their parallel scan (models/minrnn.py).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .base import length_mask
from .minrnn import MinGRULayer, MinLSTMLayer, MinStack
from .rnn import FastGRU, run_rnn

# name -> builder(inputs, hidden, bidirectional): one layer of the cell
CELLS: dict[str, Callable[[int, int, bool], nn.Module]] = {
    "lstm": lambda c, h, both: nn.LSTM(c, h, batch_first=True, bidirectional=both),
    "gru": lambda c, h, both: FastGRU(c, h, 1, both),
    "mingru": lambda c, h, both: MinStack(MinGRULayer, c, h, bidirectional=both),
    "minlstm": lambda c, h, both: MinStack(MinLSTMLayer, c, h, bidirectional=both),
}


def make_cell(cell: str, inputs: int, hidden: int, bidirectional: bool = False) -> nn.Module:
    """One recurrent layer by name (``CELLS``), reading ``inputs`` features a step into ``hidden`` units a way."""
    if cell not in CELLS:
        from ..errors import BlobError

        raise BlobError(f"cell={cell!r} is not a recurrent cell; valid cells: {', '.join(CELLS)}.")
    return CELLS[cell](inputs, hidden, bidirectional)


def run_cell(rnn: nn.Module, seq: torch.Tensor,
             lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A cell from ``make_cell`` over (B, L, C): per-step states (B, L, D*H) and final states (B, D*H)."""
    out, final = rnn(seq, lengths) if isinstance(rnn, MinStack) else run_rnn(rnn, seq, lengths)
    mask = length_mask(lengths, out.shape[1], out.device)  # the GRU's kernel leaves padding's states as they came
    return (out if mask is None else out * mask[..., None]), final
