"""ClippedAdamW (train/optim.py): clipping and AdamW in one compiled call, against PyTorch's two steps."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from blobbotronic.models import native
from blobbotronic.train.optim import ClippedAdamW


def _pair(clip, wd=0.1):
    torch.manual_seed(0)
    ours = nn.Sequential(nn.Linear(20, 64), nn.Tanh(), nn.Linear(64, 5))
    ref = copy.deepcopy(ours)
    return (ours, ClippedAdamW(ours.parameters(), lr=1e-2, weight_decay=wd, clip=clip),
            ref, torch.optim.AdamW(ref.parameters(), lr=1e-2, weight_decay=wd))


def _batch(i):
    g = torch.Generator().manual_seed(i)
    return torch.randn(16, 20, generator=g) * 5, torch.randint(0, 5, (16,), generator=g)


@pytest.mark.parametrize("clip", [None, 0.3])
def test_the_step_is_clip_grad_norm_then_adamw(clip):
    ours, opt, ref, ref_opt = _pair(clip)
    clipped = 0
    for i in range(25):
        x, y = _batch(i)
        for m, o in ((ours, opt), (ref, ref_opt)):
            o.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(m(x), y).backward()
        if clip:
            norm = float(nn.utils.clip_grad_norm_(ref.parameters(), clip))
            clipped += norm > clip
        opt.step()
        ref_opt.step()
        if clip:
            assert opt.last_norm == pytest.approx(norm, rel=1e-5)
        else:
            assert opt.last_norm is None
    assert clip is None or clipped > 10  # the clipping was exercised
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert (opt._lists is not None) == (native.kernels() is not None)  # the compiled path ran where it is built
    for p in ours.parameters():
        assert float(opt.state[p]["step"]) == 25


def test_a_parameter_without_a_gradient_falls_back_and_keeps_the_update_right():
    ours, opt, ref, ref_opt = _pair(0.3)
    for i in range(6):
        x, y = _batch(i)
        frozen_step = i == 2  # the first layer gets no gradient on one step: its step count falls behind
        for m, o in ((ours, opt), (ref, ref_opt)):
            o.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(m(x), y).backward()
            if frozen_step:
                m[0].weight.grad = None
        nn.utils.clip_grad_norm_([p for p in ref.parameters() if p.grad is not None], 0.3)
        opt.step()
        ref_opt.step()
    assert float(opt.state[ours[0].weight]["step"]) == 5 and float(opt.state[ours[2].weight]["step"]) == 6
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_drops_or_zeroes_every_gradient(set_to_none):
    ours, opt, _, _ = _pair(0.3)
    x, y = _batch(0)
    nn.functional.cross_entropy(ours(x), y).backward()
    opt.zero_grad(set_to_none=set_to_none)
    for p in ours.parameters():
        assert (p.grad is None) if set_to_none else (p.grad is not None and not p.grad.any())


def test_a_closure_makes_the_gradients_before_they_are_clipped():
    ours, opt, ref, ref_opt = _pair(0.3)
    x, y = _batch(0)

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(ours(x), y)
        loss.backward()
        return loss

    loss = opt.step(closure)
    ref_opt.zero_grad()
    ref_loss = nn.functional.cross_entropy(ref(x), y)
    ref_loss.backward()
    nn.utils.clip_grad_norm_(ref.parameters(), 0.3)
    ref_opt.step()
    assert loss.item() == pytest.approx(ref_loss.item())
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_weight_average_follows_its_recurrence_and_swaps_back_exactly():
    from blobbotronic.train.optim import WeightAverage

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    avg = WeightAverage(net, 0.9)
    expected = [v.clone() for v in net.state_dict().values() if v.is_floating_point()]
    for t in range(30):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
            net[1].running_mean.add_(1.0)
            net[1].num_batches_tracked += 1
        avg.update()
        d = min(0.9, (1 + t) / (10 + t))
        live = [v for v in net.state_dict().values() if v.is_floating_point()]
        expected = [d * e + (1 - d) * v for e, v in zip(expected, live, strict=True)]
    live = {k: v.clone() for k, v in net.state_dict().items()}
    with avg.swapped():
        inside = [v.clone() for v in net.state_dict().values() if v.is_floating_point()]
        assert net[1].num_batches_tracked.item() == 30  # integer buffers are not averaged
    for got, want in zip(inside, expected, strict=True):
        torch.testing.assert_close(got, want)
    assert not torch.equal(inside[0], live["0.weight"])  # the average is not the live weights
    for k, v in net.state_dict().items():
        assert torch.equal(v, live[k]), k  # and the live weights came back bit for bit
    with pytest.raises(ValueError):
        WeightAverage(net, 1.0)
