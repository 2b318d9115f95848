"""The compiled GRU recurrence (models/native.py): exact gradients, PyTorch's numbers, a fallback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from blobbotronic.models import native
from blobbotronic.models.rnn import FastGRU, GRUScan, run_rnn

pytestmark = pytest.mark.skipif(native.kernels() is None, reason=f"compiled kernels not built here: {native.status()}")


def _inputs(gates: int, L=6, D=2, B=3, H=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    gi = torch.randn(L, D, B, gates * H, dtype=torch.double, generator=g).requires_grad_()
    w = (0.4 * torch.randn(D, gates * H, H, dtype=torch.double, generator=g)).requires_grad_()
    b = torch.randn(D, gates * H, dtype=torch.double, generator=g).requires_grad_()
    return gi, w, b


def test_backward_is_the_exact_gradient():
    assert torch.autograd.gradcheck(native.NativeGRUScan.apply, _inputs(3))


@pytest.mark.parametrize("D", [1, 2])
def test_backward_is_exact_on_the_projection_layout(D):
    """FastGRU hands the kernel gi as an (L, D, B, 3H) view of (D, B, L, 3H) memory; the kernel reads it with
    strides and writes the gradient in that layout."""
    g = torch.Generator().manual_seed(1)
    raw = torch.randn(D, 3, 5, 12, dtype=torch.double, generator=g).requires_grad_()  # (D, B, L, 3H), H = 4
    w = (0.4 * torch.randn(D, 12, 4, dtype=torch.double, generator=g)).requires_grad_()
    b = torch.randn(D, 12, dtype=torch.double, generator=g).requires_grad_()

    def scan(raw, w, b):
        gi = raw.permute(2, 0, 1, 3)
        assert not gi.is_contiguous()
        return native.NativeGRUScan.apply(gi, w, b)

    assert torch.autograd.gradcheck(scan, (raw, w, b))
    torch.testing.assert_close(scan(raw, w, b), GRUScan.apply(raw.permute(2, 0, 1, 3).contiguous(), w, b))


def test_gru_kernel_equals_the_python_scan():
    gi, w, b = _inputs(3)
    ours, ref = native.NativeGRUScan.apply(gi, w, b), GRUScan.apply(gi, w, b)
    torch.testing.assert_close(ours, ref)
    g1 = torch.autograd.grad(ours.square().sum(), (gi, w, b))
    g2 = torch.autograd.grad(ref.square().sum(), (gi, w, b))
    for a, r in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, r)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_fast_gru_with_padding_equals_packed_nn_gru(bidirectional):
    torch.manual_seed(0)
    ref = nn.GRU(3, 5, batch_first=True, bidirectional=bidirectional)
    ours = FastGRU(3, 5, bidirectional=bidirectional)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            for d, sfx in enumerate(["_l0", "_l0_reverse"][: 2 if bidirectional else 1]):
                getattr(ours, name)[0][d].copy_(getattr(ref, name + sfx))
    x = torch.randn(4, 7, 3)
    lengths = torch.tensor([7, 3, 5, 1])
    out, final = run_rnn(ours, x, lengths)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref_out, h = ref(packed)
    ref_out, _ = nn.utils.rnn.pad_packed_sequence(ref_out, batch_first=True, total_length=7)
    torch.testing.assert_close(final, torch.cat(list(h), -1), atol=2e-6, rtol=1e-5)
    for i, n in enumerate(lengths.tolist()):  # real steps agree; padded ones are never read
        torch.testing.assert_close(out[i, :n], ref_out[i, :n], atol=2e-6, rtol=1e-5)


def test_fast_gru_uses_the_kernel_and_matches_nn_gru():
    torch.manual_seed(1)
    ref = nn.GRU(2, 6, batch_first=True)
    ours = FastGRU(2, 6)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ours, name)[0].copy_(getattr(ref, f"{name}_l0")[None])
    x = torch.randn(3, 9, 2)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=2e-6, rtol=1e-5)


def test_disabled_kernels_fall_back_and_say_why():
    code = ("from blobbotronic.models import native; from blobbotronic.models.rnn import run_rnn; import torch;"
            "from blobbotronic.models.rnn import FastGRU;"
            "print(native.status()); print(run_rnn(FastGRU(2, 3), torch.randn(2, 4, 2))[1].shape)")
    env = {**os.environ, "BLOBBOTRONIC_NATIVE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert "pure-PyTorch recurrences (BLOBBOTRONIC_NATIVE=0)" in out
    assert "torch.Size([2, 3])" in out
