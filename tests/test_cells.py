"""The recurrent cells a hybrid stacks behind its CNN (models/cells.py): one contract for every cell."""

from __future__ import annotations

import pytest
import torch

from blobbotronic.data import load
from blobbotronic.errors import BlobError
from blobbotronic.models import create
from blobbotronic.models.cells import CELLS, make_cell, run_cell
from blobbotronic.models.minrnn import MinGRULayer, MinStack

LENGTHS = torch.tensor([9, 4, 6])


@pytest.mark.parametrize("both", [False, True], ids=["one-way", "bidirectional"])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_every_cell_ignores_padding_and_zeroes_its_states(cell: str, both: bool) -> None:
    torch.manual_seed(0)
    rnn = make_cell(cell, 5, 7, both)
    x = torch.randn(3, 9, 5)
    out, final = run_cell(rnn, x, LENGTHS)
    assert out.shape == (3, 9, 14 if both else 7) and final.shape == (3, 14 if both else 7)
    noisy = x.clone()
    noisy[1, 4:], noisy[2, 6:] = 100.0, -50.0  # whatever stands in the padding
    out2, final2 = run_cell(rnn, noisy, LENGTHS)
    torch.testing.assert_close(out2, out)
    torch.testing.assert_close(final2, final)
    assert out[1, 4:].abs().max() == 0 and out[2, 6:].abs().max() == 0


def test_the_reverse_way_reads_each_sequence_backwards_from_its_last_real_step() -> None:
    torch.manual_seed(1)
    stack = MinStack(MinGRULayer, 5, 7, layers=2, bidirectional=True)
    x = torch.randn(3, 9, 5)
    out, final = stack(x, LENGTHS)
    for b, n in enumerate(LENGTHS.tolist()):
        real = x[b : b + 1, :n]
        fwd = stack.ways[0](real.transpose(0, 1))[:, 0]  # (n, H), one sequence alone, no padding at all
        bwd = stack.ways[1](real.flip(1).transpose(0, 1))[:, 0].flip(0)
        torch.testing.assert_close(out[b, :n], torch.cat([fwd, bwd], -1))
        torch.testing.assert_close(final[b], torch.cat([fwd[-1], bwd[0]]))


def test_an_unknown_cell_is_refused_with_the_valid_names() -> None:
    with pytest.raises(BlobError, match="mingru"):
        make_cell("transformer", 5, 7)


@pytest.mark.parametrize("name,cell", [("cnn_rnn", "mingru"), ("cnn_rnn", "minlstm"), ("crnn", "mingru")])
def test_hybrids_take_the_parallel_scan_cells_and_learn(name: str, cell: str) -> None:
    from blobbotronic.train import train

    data = load("gunpoint")
    model = create(name, data.spec, cell=cell, hidden=16)
    assert isinstance(model.rnn, MinStack)
    run = train(data, name, params={"cell": cell, "hidden": 16}, budget="300 steps", patience=None, quiet=True,
                threads=1, device="cpu", seed=0)
    losses = [r["train_loss"] for r in run.history]
    # it learns: GunPoint's training loss starts at ln 2 (0.69) and falls to about 0.2-0.3 in 300 steps
    assert losses[-1] < 0.6 * losses[0], losses
