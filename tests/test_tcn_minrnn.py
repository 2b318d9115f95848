"""The TCN, minGRU and minLSTM, the copy-memory and pixel-digit data sets, and the tcn-study claim's verdict."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from blobbotronic.claims import tcn_study
from blobbotronic.claims.base import Evidence
from blobbotronic.data import Spec, load
from blobbotronic.data.copy_memory import CLASSES, copy_memory_arrays, guess_loss, make_copy_memory
from blobbotronic.errors import BlobError
from blobbotronic.models import create, minrnn, minrnn_native
from blobbotronic.models.base import last_valid
from blobbotronic.models.minrnn import LerpScan, log_scan
from blobbotronic.models.minrnn_native import NativeMinScan
from blobbotronic.models.tcn import levels_for, receptive_field

SEQ = Spec("s", "sequence", "classify", (40, 3), 4, classes="abcd")
# loaded at collection, under the real HOME's build cache (conftest's private HOME would build it again)
COMPILED = minrnn_native.kernels() is not None
# the compiled scan both ways: inputs projected inside it (narrow inputs), and a projection computed before it
NATIVE = ["native", "native-projected"] if COMPILED else []
TAG = Spec("t", "sequence", "tag", (40, 3), 5, classes=("O", "B-1", "B-2", "B-3", "B-4"))


# --- minGRU / minLSTM: the scans are the recurrence ---------------------------------------------------------


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
@pytest.mark.parametrize("variable", [False, True])
def test_scans_equal_the_step_by_step_recurrence_values_and_gradients(name, variable, monkeypatch):
    """Every scan (log space, the paper's; the element-wise loop with its own backward; the compiled kernel, with
    the inputs projected inside it or before it) against the recurrence run one step at a time with plain
    autograd: the same states, readouts and gradients for inputs and every weight."""
    torch.manual_seed(0)
    model = create(name, SEQ, hidden=6, layers=3).double()
    x = torch.randn(5, 40, 3, dtype=torch.double) * 2
    lengths = torch.tensor([40, 17, 1, 33, 25]) if variable else None
    results = {}
    for scan in ("steps", "log", "loop", *NATIVE):
        monkeypatch.setattr(minrnn_native, "PROJECT_INSIDE", 0 if scan == "native-projected" else 8)
        xs = x.clone().requires_grad_()
        h = model.steps(xs, lengths, scan=scan.partition("-")[0])
        last = h[torch.arange(5), (lengths - 1) if variable else -1]  # what readout="last" reads
        (h.sin().sum() + last.cos().sum()).backward()
        results[scan] = (h.detach(), last.detach(), xs.grad, [p.grad.clone() for p in model.layers.parameters()])
        model.zero_grad()
    ref = results["steps"]
    for scan in ("log", "loop", *NATIVE):
        got = results[scan]
        torch.testing.assert_close(got[0], ref[0], rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(got[1], ref[1], rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(got[2], ref[2], rtol=1e-8, atol=1e-10)
        for g, r in zip(got[3], ref[3], strict=True):
            torch.testing.assert_close(g, r, rtol=1e-8, atol=1e-10)
    if variable:  # a sequence's last real state does not depend on what follows it
        x2 = x.clone()
        x2[1, 17:] = 9.0
        torch.testing.assert_close(model(x2, lengths), model(x, lengths))


def test_float32_scan_stays_within_float_tolerance_over_1000_steps():
    torch.manual_seed(1)
    model = create("mingru", Spec("s", "sequence", "classify", (1000, 2), 3, classes="abc"), hidden=8)
    x = torch.randn(3, 1000, 2) * 3
    ref = model.steps(x, scan="steps")
    torch.testing.assert_close(model.steps(x, scan="loop"), ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model.steps(x, scan="log"), ref, rtol=2e-3, atol=1e-4)
    if COMPILED:  # its own exponential (relative error under 2e-7 in sigmoid), projected inside and before
        torch.testing.assert_close(model.steps(x, scan="native"), ref, rtol=1e-5, atol=1e-6)
        wide = create("minlstm", Spec("s", "sequence", "classify", (1000, 12), 3, classes="abc"), hidden=8)
        x = torch.randn(3, 1000, 12) * 3
        torch.testing.assert_close(wide.steps(x, scan="native"), wide.steps(x, scan="steps"), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not COMPILED, reason=f"compiled scan not built here: {minrnn_native.status()}")
@pytest.mark.parametrize("gates", [2, 3])
def test_compiled_scan_gradcheck_both_ways_and_any_gradient_layout(gates):
    """gradcheck of the kernel's backward: from a projection (its gradient) and from inputs projected inside it
    (the inputs', weight's and bias's), with the states' gradient arriving transposed or expanded over time."""
    torch.manual_seed(0)
    L, B, H, C = 7, 9, 3, 2  # 9 rows: one chunk or two, whatever the thread count
    opts = {"dtype": torch.double, "requires_grad": True}
    p, bias = torch.randn(L, B, gates * H, **opts), torch.randn(gates * H, **opts)
    x, w = torch.randn(L, B, C, **opts), torch.randn(gates * H, C, **opts)
    assert torch.autograd.gradcheck(lambda p, b: NativeMinScan.apply(p, None, b, gates).transpose(0, 1).sin(),
                                    (p, bias))
    assert torch.autograd.gradcheck(lambda x, w, b: NativeMinScan.apply(x, w, b, gates).mean(0), (x, w, bias))
    torch.testing.assert_close(NativeMinScan.apply(x, w, bias, gates),
                               NativeMinScan.apply(x @ w.T, None, bias, gates))
    wide = torch.randn(L, 40, C, dtype=torch.double)  # 40 rows: two chunks on two threads, their sums added
    def grads():
        return torch.autograd.grad(NativeMinScan.apply(wide, w, bias, gates).sin().sum(), (w, bias))
    threads = torch.get_num_threads()
    one = grads()
    torch.set_num_threads(2)
    try:
        two = grads()
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(two, one)


@pytest.mark.parametrize("readout", ["last", "mean"])
def test_inference_in_slices_of_rows_gives_the_whole_batch_numbers(readout, monkeypatch):
    """Without gradients a large batch runs in slices of rows (minrnn.INFERENCE_BYTES): the same outputs."""
    torch.manual_seed(0)
    model = create("minlstm", SEQ, hidden=6, readout=readout).eval()
    x, lengths = torch.randn(11, 40, 3), torch.randint(1, 41, (11,))
    whole = model(x, lengths).detach()
    monkeypatch.setattr(minrnn, "INFERENCE_BYTES", 40 * 3 * 6 * 4 * 3)  # three rows a slice
    with torch.no_grad():
        torch.testing.assert_close(model(x, lengths), whole)


@pytest.mark.parametrize("variable", [False, True])
def test_the_last_state_read_time_first_is_last_valid(variable):
    """The classifier reads each sequence's last real state from the time-first states (so that its gradient
    comes back in the scan's layout): the same numbers as last_valid over steps()."""
    torch.manual_seed(0)
    model = create("mingru", SEQ, hidden=6)
    x = torch.randn(5, 40, 3)
    lengths = torch.tensor([40, 17, 1, 33, 25]) if variable else None
    torch.testing.assert_close(model.forward_features(x, lengths), last_valid(model.steps(x, lengths), lengths))


def test_lerp_scan_gradcheck_and_log_scan_agree():
    torch.manual_seed(0)
    z = torch.rand(12, 2, 3, dtype=torch.double, requires_grad=True)
    v = torch.randn(12, 2, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(LerpScan.apply, (z, v))
    v_pos = v.detach().abs() + 0.1  # log space needs positive b = z v
    torch.testing.assert_close(log_scan((1 - z).log(), (z * v_pos).log()), LerpScan.apply(z, v_pos))


def test_lerp_scan_under_vmap_is_each_seed_scanned_alone():
    """Seeds stacked by vmap (train/batched.py) run as one scan: the same states and gradients as one by one."""
    torch.manual_seed(0)
    z = torch.rand(3, 12, 2, 4, dtype=torch.double, requires_grad=True)  # 3 seeds first
    v = torch.randn(3, 12, 2, 4, dtype=torch.double, requires_grad=True)
    shared = torch.randn(12, 2, 4, dtype=torch.double, requires_grad=True)  # a value no seed owns (in_dims None)
    for args, dims in (((z, v), (0, 0)), ((z, shared), (0, None))):
        out = torch.func.vmap(LerpScan.apply, in_dims=dims)(*args)
        alone = [[a[i] if d == 0 else a for a, d in zip(args, dims, strict=True)] for i in range(3)]
        ref = torch.stack([LerpScan.apply(*seed) for seed in alone])
        torch.testing.assert_close(out, ref)
        grads = torch.autograd.grad(out.sin().sum(), args), torch.autograd.grad(ref.sin().sum(), args)
        for g, r in zip(*grads, strict=True):
            torch.testing.assert_close(g, r)


def test_min_rnn_stacked_layers_and_parameter_count():
    one, three = create("mingru", SEQ, hidden=8, layers=1), create("mingru", SEQ, hidden=8, layers=3)
    assert one.num_params() == 2 * 8 * (3 + 1) + (8 + 1) * 4  # the z and candidate projections, the head
    assert three.num_params() == one.num_params() + 2 * (2 * 8 * (8 + 1))
    assert create("minlstm", SEQ, hidden=8, layers=1).num_params() == 3 * 8 * (3 + 1) + (8 + 1) * 4
    with pytest.raises(BlobError, match="at least one unit and one layer"):
        create("mingru", SEQ, layers=0)


# --- TCN ------------------------------------------------------------------------------------------------------


def test_receptive_field_covers_the_sequence():
    assert receptive_field(1, 2) == 3 and receptive_field(4, 7) == 181
    for length in (2, 40, 120, 200, 784, 1020):
        for kernel in (2, 3, 7, 8):
            n = levels_for(length, kernel)
            assert receptive_field(n, kernel) >= length > (receptive_field(n - 1, kernel) if n > 1 else 0)
    model = create("tcn", Spec("s", "sequence", "regress", (200, 2), 1), kernel=7)
    assert model.levels == 5 and model.receptive_field == 373 and len(model.blocks) == 5
    assert create("tcn", SEQ, levels=2).levels == 2  # given, not derived
    with pytest.raises(BlobError, match="kernel of at least 2"):
        create("tcn", SEQ, kernel=1)


def test_tcn_is_causal_and_sees_its_whole_receptive_field():
    """An output at step t does not change when inputs after t change; it does change when the first input does."""
    torch.manual_seed(0)
    model = create("tcn", TAG, width=8, kernel=3).eval()
    x = torch.randn(2, 40, 3)
    out = model(x)
    assert out.shape == (2, 40, 5)
    for t in (0, 9, 25, 38):
        later = x.clone()
        later[:, t + 1:] = torch.randn(2, 40 - t - 1, 3) * 5
        torch.testing.assert_close(model(later)[:, : t + 1], out[:, : t + 1])
        assert not torch.allclose(model(later)[:, t + 1:], out[:, t + 1:])
    first = x.clone()
    first[:, 0] += 3.0
    assert not torch.allclose(model(first)[:, -1], out[:, -1])  # the last step's field reaches step 0


def test_tcn_reads_the_last_real_step():
    torch.manual_seed(0)
    model = create("tcn", SEQ, width=8).eval()
    x = torch.randn(3, 40, 3)
    lengths = torch.tensor([40, 12, 30])
    full = model.steps(x)
    feats = model.forward_features(x, lengths)
    torch.testing.assert_close(feats, full[torch.arange(3), lengths - 1])
    padded = x.clone()
    padded[1, 12:] = 7.0  # padding after the end changes nothing
    torch.testing.assert_close(model(padded, lengths), model(x, lengths))


# --- data -----------------------------------------------------------------------------------------------------


def test_copy_memory_layout_and_targets():
    ids, y = copy_memory_arrays(5, 4, np.random.default_rng(0))
    assert ids.shape == y.shape == (4, 25)
    for row, target in zip(ids, y, strict=True):
        symbols = row[:10]
        assert ((symbols >= 1) & (symbols <= 8)).all()
        assert (row[10:14] == 0).all() and (row[14:] == 9).all()  # T - 1 blanks, the delimiter, 10 recall cues
        assert (target[:15] == 0).all() and (target[15:] == symbols).all()
    ds = make_copy_memory(lag=5, n=20)
    assert ds.spec.input_shape == (25, 10) and ds.spec.task == "tag" and ds.spec.classes == CLASSES
    x, y = ds.train.x, ds.train.y
    assert x.sum(-1).eq(1).all() and y.shape == (16, 25)  # one-hot inputs, a class per step
    torch.testing.assert_close(y[:, -10:], x[:, :10].argmax(-1))
    assert load("copy_memory:lag=5,n=20").spec.name == "copy_memory:lag=5,n=20"
    with pytest.raises(BlobError, match="lag"):
        make_copy_memory(lag=0, n=20)


def test_copy_memory_guess_loss_is_the_uniform_guess():
    ds = make_copy_memory(lag=30, n=50)
    probs = torch.zeros(*ds.test.y.shape, len(CLASSES))
    probs[..., 0] = 1.0  # blanks certain
    probs[:, -10:] = torch.tensor([0.0] + [1 / 8] * 8)  # uniform over the 8 symbols where they are recalled
    loss = torch.nn.functional.nll_loss(probs.clamp_min(1e-30).log().flatten(0, 1), ds.test.y.flatten())
    assert loss.item() == pytest.approx(guess_loss(30)) == pytest.approx(10 * math.log(8) / 50)


def test_a_tcn_trains_on_copy_memory_through_the_tag_task():
    from blobbotronic.train import train

    run = train(make_copy_memory(lag=4, n=60), "tcn", params={"width": 8}, budget="3 steps", quiet=True,
                threads=1, device="cpu")
    assert {"loss", "entity_f1", "token_accuracy"} <= set(run.metrics) and math.isfinite(run.metrics["loss"])


# --- the claim's verdict ----------------------------------------------------------------------------------------


def _rows(losses, seconds, memory=2.0, share=1.0):
    cost = {"train_seconds": seconds, "cpu_share": share, "threads": 1, "device": "cpu", "memory_mb": memory,
            "params": 15000}
    return [{"seed": i, "metric": "loss", "metrics": {"loss": v}, "cost": dict(cost)} for i, v in enumerate(losses)]


def _evidence(tcn, best, tcn_seconds=10.0, rec_seconds=30.0, tcn_memory=2.0, rec_share=1.0):
    cells = {}
    for source in ("adding:lag=200,n=2000", "copy_memory:lag=100,n=2000"):
        cells[("tcn", source)] = _rows(tcn, tcn_seconds, tcn_memory)
        cells[("mingru", source)] = _rows(best, rec_seconds, share=rec_share)
        cells[("gru", source)] = _rows([0.17, 0.171, 0.172], rec_seconds, share=rec_share)
    return Evidence(cells)


def test_claim_is_refuted_when_the_tcn_is_as_good_and_no_costlier():
    v = tcn_study.decide(_evidence([1e-4, 2e-4, 1e-4], [0.16, 0.17, 0.165]))
    assert v.verdict == "refuted" and v.numbers["tcn_as_good_and_no_costlier"] == 2
    assert "guessing" in v.key and "not significantly positive" in v.rule
    rows = {(r["task"], r["model"]): r for r in v.numbers["table"]}
    assert rows[("copy memory T=100", "tcn")]["guess_loss"] == pytest.approx(guess_loss(100))
    assert rows[("adding T=200", "gru")]["loss_vs_guess"] == pytest.approx(0.171 * 6)


def test_claim_is_supported_when_a_recurrent_model_is_better_or_the_tcn_much_costlier():
    worse = tcn_study.decide(_evidence([0.16, 0.17, 0.165], [1e-4, 2e-4, 1e-4]))
    assert worse.verdict == "supported" and worse.numbers["recurrent_better_or_tcn_much_costlier"] == 2
    hungry = tcn_study.decide(_evidence([1e-4, 2e-4, 1e-4], [0.16, 0.17, 0.165], tcn_memory=5.0))  # 2.5x memory
    assert hungry.verdict == "supported"
    slower = tcn_study.decide(_evidence([1e-4, 2e-4, 1e-4], [0.16, 0.17, 0.165], tcn_seconds=40.0))  # 1.33x time
    assert slower.verdict == "mixed" and slower.numbers["neither"] == 2
    # effort is CPU time: a recurrent run that got a third of a core for 30 wall seconds used 10 CPU seconds,
    # less than the TCN's 15 at a full core, though its wall time was twice the TCN's
    starved = tcn_study.decide(_evidence([1e-4, 2e-4, 1e-4], [0.16, 0.17, 0.165], tcn_seconds=15.0, rec_share=1 / 3))
    assert starved.verdict == "mixed" and "1.50x its CPU time" in starved.key


def test_claim_names_models_left_out_and_prints_the_published_table(tmp_path):
    ev = _evidence([1e-4, 2e-4, 1e-4], [0.16, 0.17, 0.165])
    del ev.rows[("gru", "copy_memory:lag=100,n=2000")]
    v = tcn_study.decide(ev)
    # the GRU takes the tag task (rnn/lstm/gru give one output per step), so a missing run is named as missing
    assert any("copy memory T=100" in m and "gru" in m and "no runs" in m for m in v.numbers["not_run"])
    assert v.numbers["published"]["copy memory T=1000"]["tcn"] == 3.5e-5
    (path, caption), = tcn_study.figure(ev, tmp_path)
    assert path.is_file() and "Bai et al." in caption


def test_quick_runs_every_rival_on_both_tasks_at_one_budget_per_task():
    """Issue 27: --quick pits the TCN against the LSTM, GRU, vanilla RNN and minGRU on adding and copy memory."""
    from blobbotronic.claims import CLAIMS

    arms = CLAIMS.get("tcn-study").arms
    quick = {(a.model, s): a.budget["quick"] for a in arms for s in a.sources("quick")}
    tasks = [s for s, _, _ in tcn_study.TASKS["quick"]]
    assert set(quick) == {(m, s) for m in ("tcn", "lstm", "gru", "rnn", "mingru") for s in tasks}
    for s in tasks:
        assert {quick[(m, s)] for m in ("tcn", "lstm", "gru", "rnn", "mingru")} == {tcn_study.BUDGETS[s]}
