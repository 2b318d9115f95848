"""A run's costs measure the run, not the process: its own memory (parameters, gradients, optimiser state and one
step's activations) whatever ran before it, and the thread count and load it ran under (issue 24, parts 6-7)."""

from __future__ import annotations

import os
import time

import pytest
import torch
from torch import nn

import blobbotronic as bb
from blobbotronic.models import native
from blobbotronic.train import loop, metrics
from blobbotronic.train.metrics import MIB, RunMeter

STEPS = "2 steps"


@pytest.fixture(scope="module")
def mnist1d():
    return bb.load("mnist1d")


@pytest.fixture(autouse=True)
def _keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def memory(ds, model: str, params: dict, batch_size: int) -> dict:
    run = bb.train(ds, model, params=params, quiet=True, budget=STEPS, batch_size=batch_size, threads=1)
    return run.cost


@pytest.mark.parametrize("model,small,large", [
    ("mlp", {"hidden": 16}, {"hidden": 512}),
    ("cnn", {"width": 8}, {"width": 64}),
    ("lstm", {"hidden": 16}, {"hidden": 128}),
])
def test_a_small_run_after_a_large_one_reports_its_own_memory(mnist1d, model, small, large):
    alone = memory(mnist1d, model, small, 32)
    big = memory(mnist1d, model, large, 256)
    after = memory(mnist1d, model, small, 32)
    # the same small run, before and after a large one in this process: the same bytes, to the byte
    for key in ("memory_mb", "params_mb", "grads_mb", "optimizer_mb", "activations_mb"):
        assert after[key] == alone[key], key
    assert big["memory_mb"] > 10 * after["memory_mb"]
    assert big["params_mb"] > after["params_mb"] and big["activations_mb"] > after["activations_mb"]
    # the parts add up, and AdamW keeps two moments per parameter (plus a 4-byte step count per tensor)
    parts = ("params_mb", "grads_mb", "optimizer_mb", "activations_mb")
    assert after["memory_mb"] == pytest.approx(sum(after[k] for k in parts))
    weights = bb.train(mnist1d, model, params=small, quiet=True, budget="1 steps", threads=1).cost["params"] * 4 / MIB
    assert 0.9 * weights <= after["grads_mb"] <= weights  # the LSTM's two biases share one gradient tensor
    assert 2 * weights <= after["optimizer_mb"] <= 2 * weights + 64 * 4 / MIB
    # the process's high-water mark is the process's: torch alone is far larger than this run
    assert after["peak_rss_mb"] > 10 * after["memory_mb"]


def test_a_larger_batch_holds_more_activations_and_the_same_weights(mnist1d):
    small, large = memory(mnist1d, "cnn", {"width": 16}, 16), memory(mnist1d, "cnn", {"width": 16}, 256)
    assert large["params_mb"] == small["params_mb"] and large["optimizer_mb"] == small["optimizer_mb"]
    assert large["activations_mb"] > 8 * small["activations_mb"]


@pytest.mark.skipif(native.kernels() is None, reason=f"compiled kernels not built here: {native.status()}")
def test_the_compiled_lstm_kernel_saves_are_counted(mnist1d, monkeypatch):
    calls = []
    apply = native.NativeLSTM.apply
    monkeypatch.setattr(native.NativeLSTM, "apply", lambda *a: calls.append(1) or apply(*a))
    hidden, batch = 64, 128
    cost = memory(mnist1d, "lstm", {"hidden": hidden}, batch)
    assert calls, "the LSTM did not run on the compiled kernel"
    steps = mnist1d.train.x.shape[1]
    gates = steps * batch * 4 * hidden * 4 / MIB  # the kernel's saved gate activations alone (float32)
    assert cost["activations_mb"] >= gates


def test_the_meter_counts_each_memory_block_once_and_leaves_parameters_out():
    net = nn.Sequential(nn.Linear(10, 1000, bias=False), nn.ReLU())
    x = torch.randn(50, 10)
    meter = RunMeter(net).begin()
    out = net(x)
    out.sum().backward()
    meter.first_step(None, x, x[:5], out, out.view(-1))  # views of blocks already counted add nothing
    # saved for backward: the input (for the weight's gradient) and the ReLU's output, which is also the output
    assert meter.parts["activations_mb"] * MIB == x.nbytes + out.nbytes
    assert meter.parts["params_mb"] * MIB == net[0].weight.nbytes == meter.parts["grads_mb"] * MIB
    assert meter.parts["optimizer_mb"] == 0
    # after the first step nothing is watched any more
    net(torch.randn(7, 10)).sum().backward()
    assert meter.parts["activations_mb"] * MIB == x.nbytes + out.nbytes


def test_a_meter_left_watching_by_a_failed_run_is_taken_down_by_the_next():
    stale = RunMeter(nn.Linear(2, 2)).begin()  # a run that raised inside its first step never called first_step
    fresh = RunMeter(nn.Linear(2, 2)).begin()
    nn.Linear(3, 3)(torch.randn(4, 3)).sum().backward()
    fresh.first_step(None)
    assert stale._saved == {} and fresh.parts["activations_mb"] > 0
    assert RunMeter._local.meter is None


def test_runs_in_two_threads_each_measure_their_own_step():
    """Saved-tensor hooks belong to a thread: a run starting in another thread leaves this one's meter alone."""
    import threading

    mine = RunMeter(nn.Linear(4, 4)).begin()
    other = {}

    def run():
        meter = RunMeter(nn.Linear(4, 4)).begin()
        nn.Linear(4, 400)(torch.randn(10, 4)).relu().sum().backward()
        meter.first_step(None)
        other["mb"] = meter.parts["activations_mb"]

    t = threading.Thread(target=run)
    t.start()
    t.join()
    x = torch.randn(3, 4)
    nn.Linear(4, 4)(x).sum().backward()
    mine.first_step(None)
    assert mine.parts["activations_mb"] * MIB == x.nbytes  # the Linear's input, nothing from the other thread
    assert other["mb"] * MIB >= 10 * 400 * 4


def test_cpu_share_and_the_contended_flag():
    meter = RunMeter(nn.Linear(2, 2), watch=False).begin()
    meter._wall_start = time.perf_counter() - 10.0  # ten seconds of wall time with no CPU time: a neighbour's
    meter._cpu_start = time.process_time()
    cost = meter.finish(threads=2)
    assert cost["cpu_share"] < 0.01 and cost["contended"] is True
    meter = RunMeter(nn.Linear(2, 2), watch=False).begin()
    meter._wall_start, meter._cpu_start = time.perf_counter() - 10.0, time.process_time() - 20.0  # both threads ran
    cost = meter.finish(threads=2)
    assert cost["cpu_share"] == pytest.approx(1.0, abs=0.05) and cost["contended"] is False
    assert "memory_mb" not in cost  # a meter that watched no step claims no memory


def test_every_run_records_the_load_beside_its_timing(mnist1d):
    cost = bb.train(mnist1d, "mlp", quiet=True, budget=STEPS, threads=1).cost
    for key in ("load_start", "load_end"):
        assert cost[key] is None or (isinstance(cost[key], float) and cost[key] >= 0)
    assert cost["cpu_share"] > 0 and isinstance(cost["contended"], bool)


@pytest.mark.parametrize("cores,snapshots,expected", [
    (4, [(1, 1)], 4),  # only our own thread runs: every core
    (16, [(1, 1)], 8),  # at most 8
    (4, [(3, 1)], 2),  # two other processes running: two cores left
    (2, [(2, 1)], 1),  # issue 24: one busy neighbour on two cores
    (2, [(12, 1)], 1),  # always at least one thread
    (4, [(5, 4)], 3),  # our own running threads are not neighbours
    (4, [(1, 1), (9, 1), (1, 1), (1, 1), (1, 1)], 4),  # a task passing through one reading is not a neighbour
])
def test_default_threads_leaves_the_busy_cores_to_their_owners(monkeypatch, cores, snapshots, expected):
    monkeypatch.delenv("BLOBBOTRONIC_THREADS", raising=False)
    readings = iter(snapshots * 5)
    monkeypatch.setattr(metrics, "_proc_snapshot", lambda: next(readings))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(loop, "usable_cores", lambda: cores)
    assert loop.default_threads() == expected
    monkeypatch.setenv("BLOBBOTRONIC_THREADS", "3")
    assert loop.default_threads() == 3


def test_neighbours_count_in_proportion_to_the_cpus_we_may_use(monkeypatch):
    monkeypatch.setattr(metrics, "_proc_snapshot", lambda: (9, 1))  # 8 others on a 16-CPU machine
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(4)), raising=False)
    assert metrics.busy_cores(gap=0.0) == 2  # our 4 CPUs are a quarter of the machine


def test_off_linux_the_load_average_stands_in(monkeypatch):
    monkeypatch.setattr(metrics, "_proc_snapshot", lambda: None)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.2, 1.0, 0.5))
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert metrics.busy_cores(gap=0.0) == 2  # 3.2 runnable on average, one of them us


def test_a_cgroup_quota_caps_the_usable_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert metrics.usable_cores(tmp_path / "cpu.max") == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert metrics.usable_cores(tmp_path / "cpu.max") == 16
    assert metrics.usable_cores(tmp_path / "absent") == 16


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="Linux only")
def test_the_proc_snapshot_sees_this_process_running():
    runnable, own = metrics._proc_snapshot()
    assert own >= 1 and runnable >= 1  # the reading thread itself is running
    assert 1 <= loop.default_threads() <= min(8, metrics.usable_cores())
