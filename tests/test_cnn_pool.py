"""The 1-D CNN's fast paths (models/cnn.py): pair pooling and the channels-last stack give PyTorch's numbers and
gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from blobbotronic.models.cnn import MaxPool1d, channels_last_1d, conv_stack


@pytest.mark.parametrize("length", [40, 41, 2, 3])
def test_pair_pool_equals_pytorch_forward_and_backward(length):
    g = torch.Generator().manual_seed(length)
    x = torch.randn(4, 3, length, generator=g, dtype=torch.double)
    x[0, 0, :2] = 1.5  # a tie: the first maximum takes the gradient in both
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours, ref = MaxPool1d(2)(a), nn.MaxPool1d(2)(b)
    torch.testing.assert_close(ours, ref)
    w = torch.randn(ref.shape, generator=g, dtype=torch.double)
    (ours * w).sum().backward()
    (ref * w).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_other_windows_use_pytorch_pooling():
    x = torch.randn(2, 3, 10)
    torch.testing.assert_close(MaxPool1d(3, stride=1)(x), nn.MaxPool1d(3, stride=1)(x))


@pytest.mark.parametrize("norm,pool", [("batch", True), ("group", True), ("none", False), ("batch", False)])
def test_channels_last_stack_equals_the_plain_stack(norm, pool):
    """Outputs, every gradient and the running statistics, in training and then in evaluation, double precision."""
    torch.manual_seed(0)
    body, _ = conv_stack(1, 3, (13,), width=8, depth=3, kernel=5, pool=pool, norm=norm)
    body = body.double()
    twin = conv_stack(1, 3, (13,), width=8, depth=3, kernel=5, pool=pool, norm=norm)[0].double()
    twin.load_state_dict(body.state_dict())
    x = torch.randn(5, 3, 13, dtype=torch.double, requires_grad=True)
    for training in (True, False):
        body.train(training), twin.train(training)
        ref, ours = body(x), channels_last_1d(twin, x)
        torch.testing.assert_close(ours, ref)
        w = torch.randn_like(ref)
        g_ref = torch.autograd.grad((ref * w).sum(), [x, *body.parameters()])
        g_ours = torch.autograd.grad((ours * w).sum(), [x, *twin.parameters()])
        for a, b in zip(g_ours, g_ref, strict=True):
            torch.testing.assert_close(a, b)
    for (name, a), b in zip(twin.state_dict().items(), body.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_cnn_takes_the_channels_last_path_unless_a_layer_is_watched():
    from blobbotronic.models import create

    from .conftest import SPECS

    model = create("cnn", SPECS["sequence"]).eval()
    x = torch.randn(4, *SPECS["sequence"].input_shape)
    maps = model.feature_maps(x)
    assert maps.shape == (4, 32, 2) and not maps.is_contiguous()  # a view of the (B, C, 1, L) channels-last map
    seen = []
    handle = model.body[0].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    try:
        watched = model.feature_maps(x)
    finally:
        handle.remove()
    assert seen == [torch.Size([4, 32, 16])] and watched.is_contiguous()
    torch.testing.assert_close(watched, maps)
