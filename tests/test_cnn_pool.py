"""The 1-D CNN's pair pooling (models/cnn.py MaxPool1d) gives PyTorch's numbers and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from blobbotronic.models.cnn import MaxPool1d


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
