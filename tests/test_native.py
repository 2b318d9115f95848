"""The compiled GRU, LSTM and vanilla RNN recurrences (models/native.py): exact gradients, PyTorch's numbers, a fallback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from blobbotronic.models import native
from blobbotronic.models.rnn import FastGRU, GRUScan, _native_layers, run_rnn

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


@pytest.mark.parametrize("hidden", [6, 16])
def test_fast_gru_uses_the_kernel_and_matches_nn_gru(hidden):
    """float32; at 16 hidden units (a multiple of 16) both step products run on the packed AVX2 kernel."""
    torch.manual_seed(1)
    ref = nn.GRU(2, hidden, batch_first=True)
    ours = FastGRU(2, hidden)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ours, name)[0].copy_(getattr(ref, f"{name}_l0")[None])
    x = torch.randn(13, 9, 2, requires_grad=True)
    out, want = ours(x)[0], ref(x)[0]
    torch.testing.assert_close(out, want, atol=2e-6, rtol=1e-5)
    g1 = torch.autograd.grad(want.square().sum(), [x, ref.weight_hh_l0])
    g2 = torch.autograd.grad(out.square().sum(), [x, ours.weight_hh[0]])
    torch.testing.assert_close(g2[0], g1[0], atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(g2[1][0], g1[1], atol=2e-5, rtol=1e-4)


def test_lstm_backward_is_the_exact_gradient():
    g = torch.Generator().manual_seed(2)
    D, B, L, C, H = 2, 3, 5, 2, 4
    shapes, scales = [(D, L, B, C), (D, 4 * H, C), (D, 4 * H, H), (D, 4 * H)], [1.0, 0.5, 0.4, 1.0]
    args = [s * torch.randn(shape, dtype=torch.double, generator=g) for shape, s in zip(shapes, scales, strict=True)]
    assert torch.autograd.gradcheck(native.NativeLSTM.apply, [a.requires_grad_() for a in args])


def _packed_lstm(rnn: nn.LSTM | nn.RNN, x: torch.Tensor, lengths: torch.Tensor | None):
    """PyTorch's own answer: packed where there are lengths; outputs and the last layer's final states."""
    if lengths is None:
        out, h = rnn(x)
    else:
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, h = rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    h = h[0] if isinstance(h, tuple) else h
    return out, torch.cat(list(h[-(2 if rnn.bidirectional else 1):]), -1)


@pytest.mark.parametrize("bidirectional,layers,padded", [(False, 1, False), (False, 2, True), (True, 1, True),
                                                         (True, 2, False)])
def test_native_layers_equals_nn_lstm_outputs_states_and_gradients(bidirectional, layers, padded):
    """run_rnn sends an nn.LSTM to the kernels: the same outputs, final states and gradients (inputs and every
    weight) as PyTorch's LSTM, packed where sequences have lengths (double precision, so any slip shows)."""
    torch.manual_seed(3)
    rnn = nn.LSTM(3, 5, layers, batch_first=True, bidirectional=bidirectional).double()
    x = torch.randn(6, 8, 3, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([8, 3, 5, 1, 8, 6]) if padded else None
    w_out, w_final = torch.randn(6, 8, 5 * (2 if bidirectional else 1), dtype=torch.double), None
    results = []
    for run in (_packed_lstm, _native_layers):
        out, final = run(rnn, x, lengths)
        w_final = torch.randn_like(final) if w_final is None else w_final
        grads = torch.autograd.grad((out * w_out).sum() + (final * w_final).sum(), [x, *rnn.parameters()])
        results.append((out, final, grads))
    (o1, f1, g1), (o2, f2, g2) = results
    torch.testing.assert_close(o2, o1)
    torch.testing.assert_close(f2, f1)
    for a, b in zip(g2, g1, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(run_rnn(rnn, x, lengths)[0], o2, atol=0, rtol=0)  # run_rnn takes the kernels' path


@pytest.mark.parametrize("hidden,inputs", [(8, 2), (12, 2), (5, 2), (16, 2), (16, 11)])
def test_float_lstm_gates_match_nn_lstm(hidden, inputs):
    """float32 runs the vectorised gate pass (eight units a lane group, the rest one by one) and, where the gates or
    the hidden units are a multiple of 16, the packed step products (20 rows: blocks of 6 and a tail of 2). Up to 8
    inputs are projected row by row inside the recurrence, more by one product over all steps."""
    torch.manual_seed(hidden)
    rnn = nn.LSTM(inputs, hidden, batch_first=True)
    x = torch.randn(20, 9, inputs, requires_grad=True)
    (o1, f1), (o2, f2) = _packed_lstm(rnn, x, None), _native_layers(rnn, x, None)
    torch.testing.assert_close(o2, o1, atol=2e-6, rtol=1e-5)
    g1 = torch.autograd.grad(o1.square().sum(), [x, *rnn.parameters()])
    g2 = torch.autograd.grad(o2.square().sum(), [x, *rnn.parameters()])
    for a, b in zip(g2, g1, strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)


def test_rnn_backward_is_the_exact_gradient_on_the_projection_layout():
    """The vanilla RNN's kernel reads gi as an (L, D, B, H) view of the projection's (D, B, L, H) memory."""
    g = torch.Generator().manual_seed(2)
    raw = torch.randn(2, 3, 5, 4, dtype=torch.double, generator=g).requires_grad_()  # (D, B, L, H)
    w = (0.5 * torch.randn(2, 4, 4, dtype=torch.double, generator=g)).requires_grad_()
    assert torch.autograd.gradcheck(lambda raw, w: native.NativeRNN.apply(raw.permute(2, 0, 1, 3), w), (raw, w))


@pytest.mark.parametrize("hidden", [5, 16, 116])
def test_float_rnn_matches_nn_rnn(hidden):
    """float32: the packed step products where the hidden units are a multiple of 16, ATen's elsewhere; 40 rows on
    two threads, two chunks."""
    torch.manual_seed(hidden)
    rnn = nn.RNN(3, hidden, batch_first=True)
    x = torch.randn(40, 30, 3, requires_grad=True)
    (o1, f1), (o2, f2) = _packed_lstm(rnn, x, None), _native_layers(rnn, x, None)
    torch.testing.assert_close(o2, o1, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(f2, f1, atol=2e-6, rtol=1e-5)
    g1 = torch.autograd.grad(o1.square().sum(), [x, *rnn.parameters()])
    g2 = torch.autograd.grad(o2.square().sum(), [x, *rnn.parameters()])
    for a, b in zip(g2, g1, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_gradients_with_several_chunks_and_the_threads_changed_between_passes(bidirectional):
    """64 rows on four threads: four chunks (two per direction both ways), whose saved state is laid out chunk by
    chunk and whose partial sums of dW_hh are added up after the recurrence. The backward reads the state by the
    forward's layout, so it must give PyTorch's gradients even on one thread."""
    torch.manual_seed(5)
    rnn = nn.LSTM(3, 16, batch_first=True, bidirectional=bidirectional)
    x = torch.randn(64, 7, 3, requires_grad=True)
    lengths = torch.randint(1, 8, (64,)) if bidirectional else None
    o1, f1 = _packed_lstm(rnn, x, lengths)
    w_out, w_final = torch.randn_like(o1), torch.randn_like(f1)
    g1 = torch.autograd.grad((o1 * w_out).sum() + (f1 * w_final).sum(), [x, *rnn.parameters()])
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        o2, f2 = _native_layers(rnn, x, lengths)
        torch.set_num_threads(1)
        g2 = torch.autograd.grad((o2 * w_out).sum() + (f2 * w_final).sum(), [x, *rnn.parameters()])
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(o2, o1, atol=2e-6, rtol=1e-5)
    for a, b in zip(g2, g1, strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)


def test_the_batch_split_across_threads_changes_no_number():
    """The kernels cut a batch into one chunk per thread; each row's arithmetic is the same either way."""
    torch.manual_seed(4)
    rnn = nn.LSTM(2, 8, batch_first=True, bidirectional=True)
    x = torch.randn(64, 10, 2)
    threads = torch.get_num_threads()
    outs = []
    try:
        for n in (1, 4):
            torch.set_num_threads(n)
            out, final = _native_layers(rnn, x, None)
            outs.append(torch.cat([out.flatten(), final.flatten()]))
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(outs[0], outs[1], atol=0, rtol=0)


def test_disabled_kernels_fall_back_and_say_why():
    code = ("from blobbotronic.models import native; from blobbotronic.models.rnn import run_rnn; import torch;"
            "from blobbotronic.models.rnn import FastGRU;"
            "print(native.status()); print(run_rnn(FastGRU(2, 3), torch.randn(2, 4, 2))[1].shape)")
    env = {**os.environ, "BLOBBOTRONIC_NATIVE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert "pure-PyTorch recurrences (BLOBBOTRONIC_NATIVE=0)" in out
    assert "torch.Size([2, 3])" in out


def test_the_kernels_flush_subnormal_floats_on_their_threads_and_restore_the_callers_mode():
    """A gradient of 1e-39 (subnormal in float32) arrives as zero through the kernel: it is flushed on the kernel's
    threads, whatever the caller's setting, and the caller's setting is left as it was."""
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormal floats")
    try:
        tiny = torch.full((3, 1, 2, 4), 1e-39)
        assert tiny.mul(1.0).min() > 0  # the caller keeps subnormals
        gi, w = torch.zeros(3, 1, 2, 4, requires_grad=True), torch.zeros(1, 4, 4, requires_grad=True)
        (dgi,) = torch.autograd.grad(native.NativeRNN.apply(gi, w), [gi], tiny)
        assert dgi.abs().max() == 0  # without the flush: 1e-39 everywhere (tanh'(0) = 1)
        assert tiny.mul(1.0).min() > 0  # and still keeps them after the kernel ran
    finally:
        torch.set_flush_denormal(False)  # a fresh process's mode; fit sets its own
