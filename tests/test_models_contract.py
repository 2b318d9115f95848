"""Contract tests driven by the model registry: every model on every modality it accepts."""

from __future__ import annotations

import pytest
import torch

from blobbotronic.errors import BlobError
from blobbotronic.models import MODELS, create, params_schema, resolve_params

from .conftest import SPECS, random_batch

CASES = [(name, mod) for name in MODELS if "classify" in MODELS.tags(name).get("tasks", ("classify",))
         for mod in MODELS.tags(name)["accepts"] if mod in SPECS]  # tag, translate: test_tagging/test_translation


@pytest.mark.parametrize("name,modality", CASES)
def test_shape_finite_and_gradients(name, modality):
    spec = SPECS[modality]
    torch.manual_seed(0)
    model = create(name, spec)
    x, y, lengths = random_batch(spec)
    out = model(x, lengths)
    assert out.shape == (len(x), spec.n_outputs)
    assert torch.isfinite(out).all()
    if getattr(model, "rule", None) == "perceptron":
        model.params  # trained by its own rule; the gradient path is checked with rule=gradient below
        model = create(name, spec, rule="gradient")
        out = model(x, lengths)
    if hasattr(model, "fit_readout"):  # fitted in closed form by fit() (minirocket), so nothing may train by gradient
        assert not any(p.requires_grad for p in model.parameters())
        return
    torch.nn.functional.cross_entropy(out, y).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    # padding embeddings get no gradient by design; everything else must
    assert not [n for n in missing if "embed" not in n], missing


@pytest.mark.parametrize("name,modality", CASES)
def test_loss_falls_on_a_tiny_batch(name, modality):
    spec = SPECS[modality]
    torch.manual_seed(0)
    model = create(name, spec, **({"rule": "gradient"} if "rule" in params_schema(name) else {}))
    x, y, lengths = random_batch(spec, n=16, seed=1)
    if hasattr(model, "fit_readout"):  # fitted in closed form (minirocket): one fit must fit the batch; its loss is
        model.fit_readout(x, y, lengths)  # calibrated on left-out examples, so on random labels it need not fall
        assert (model(x, lengths).argmax(1) == y).all()
        return
    opt = torch.optim.Adam(model.parameters(), lr=model.train_defaults.get("lr", 1e-2))
    first = None
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(x, lengths), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.8 * first, (first, loss.item())


@pytest.mark.parametrize("name", list(MODELS))
def test_rejected_modalities_say_what_is_accepted(name):
    accepts = MODELS.tags(name)["accepts"]
    for modality, spec in SPECS.items():
        if modality in accepts:
            continue
        with pytest.raises(BlobError, match="cannot take") as e:
            create(name, spec)
        assert all(a in str(e.value) for a in accepts)


def test_parameters_are_validated_from_the_signature():
    assert resolve_params("mlp", {"hidden": "32"})["hidden"] == 32
    with pytest.raises(BlobError, match="no parameter 'hiden'.*hidden=100"):
        resolve_params("mlp", {"hiden": 3})
    with pytest.raises(BlobError, match="must be one of"):
        resolve_params("mlp", {"activation": "sigmoid"})
    with pytest.raises(BlobError, match="must be a int"):
        resolve_params("cnn", {"width": "wide"})
    assert resolve_params("cnn", {"pool": "false"})["pool"] is False


def test_unknown_model_lists_valid_names():
    with pytest.raises(BlobError, match="Unknown model 'lstn'. Did you mean 'lstm'.*cnn"):
        create("lstn", SPECS["sequence"])


def test_fast_gru_equals_torch_gru():
    from blobbotronic.models.rnn import FastGRU

    torch.manual_seed(0)
    for bidir in (False, True):
        ours = FastGRU(3, 5, layers=2, bidirectional=bidir)
        ref = torch.nn.GRU(3, 5, num_layers=2, batch_first=True, bidirectional=bidir)
        with torch.no_grad():
            for layer in range(2):
                for d, suffix in enumerate(["", "_reverse"][: 2 if bidir else 1]):
                    getattr(ref, f"weight_ih_l{layer}{suffix}").copy_(ours.weight_ih[layer][d])
                    getattr(ref, f"weight_hh_l{layer}{suffix}").copy_(ours.weight_hh[layer][d])
                    getattr(ref, f"bias_ih_l{layer}{suffix}").copy_(ours.bias_ih[layer][d])
                    getattr(ref, f"bias_hh_l{layer}{suffix}").copy_(ours.bias_hh[layer][d])
        x = torch.randn(4, 7, 3)
        lengths = torch.tensor([7, 3, 5, 1])
        out, final = ours(x, lengths)
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        ref_out, h = ref(packed)
        ref_out, _ = torch.nn.utils.rnn.pad_packed_sequence(ref_out, batch_first=True, total_length=7)
        mask = (torch.arange(7)[None] < lengths[:, None])[..., None]
        torch.testing.assert_close(out * mask, ref_out, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(final, torch.cat(list(h[-(2 if bidir else 1):]), -1), atol=1e-5, rtol=1e-4)


def test_gru_scan_backward_matches_numerical_gradients():
    from blobbotronic.models.rnn import GRUScan

    torch.manual_seed(0)
    gi = torch.randn(5, 2, 3, 12, dtype=torch.double, requires_grad=True)
    w = torch.randn(2, 12, 4, dtype=torch.double, requires_grad=True)
    b = torch.randn(2, 12, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(GRUScan.apply, (gi, w, b))


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_bidirectional_over_padding_equals_packing(cell):
    """run_rnn runs a bidirectional PyTorch RNN over padding, each way through the fused kernel: the same
    outputs, final states and gradients as a packed batch."""
    from torch import nn

    from blobbotronic.models.rnn import run_rnn

    torch.manual_seed(0)
    rnn = getattr(nn, cell)(5, 7, num_layers=2, bidirectional=True, batch_first=True).double()
    x = torch.randn(4, 9, 5, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([9, 3, 1, 6])
    out, final = run_rnn(rnn, x, lengths)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref, state = rnn(packed)
    ref, _ = nn.utils.rnn.pad_packed_sequence(ref, batch_first=True, total_length=9)
    h = state[0] if isinstance(state, tuple) else state
    ref_final = torch.cat(list(h[-2:]), -1)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(final, ref_final)
    grads = torch.autograd.grad(out.sin().sum() + final.cos().sum(), [x, *rnn.parameters()])
    ref_grads = torch.autograd.grad(ref.sin().sum() + ref_final.cos().sum(), [x, *rnn.parameters()])
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r)
