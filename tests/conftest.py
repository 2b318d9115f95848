"""Shared test fixtures: tiny Specs of every modality, and a writable HOME for packages that cache there."""

from __future__ import annotations

import os

import pytest
import torch

from blobbotronic.data import Spec
from blobbotronic.models import minrnn_native, native

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("BLOBBOTRONIC_THREADS", "1")  # two xdist workers share the two cores: one thread each
torch.set_num_threads(1)

# Load the compiled kernels now, under the real HOME: the autouse fixture below moves HOME to a private folder,
# and a first call inside a test would find no cached build there and compile again (about 45 s).
native.kernels()
minrnn_native.kernels()  # and minGRU/minLSTM's scan, for the same reason

# One tiny spec per modality: the contract tests build every model on every modality it accepts.
SPECS = {
    "table": Spec("t", "table", "classify", (5,), 3, classes="abc"),
    "image": Spec("i", "image", "classify", (1, 12, 12), 3, classes="abc"),
    "sequence": Spec("s", "sequence", "classify", (16, 2), 3, classes="abc"),
    "text": Spec("x", "text", "classify", (10,), 3, classes="abc", vocab_size=20),
    "video": Spec("v", "video", "classify", (4, 1, 8, 8), 3, classes="abc"),
}


def random_batch(spec: Spec, n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(seed)
    if spec.modality == "text":
        x = torch.randint(1, spec.vocab_size, (n, *spec.input_shape), generator=g)
        lengths = torch.randint(3, spec.input_shape[0] + 1, (n,), generator=g)
        x = x * (torch.arange(spec.input_shape[0])[None] < lengths[:, None])
    else:
        x = torch.randn(n, *spec.input_shape, generator=g)
        lengths = None
    y = torch.randint(0, spec.n_outputs, (n,), generator=g)
    return x, y, lengths


@pytest.fixture(autouse=True)
def _home(tmp_path_factory, monkeypatch):
    """Some data packages unpack into $HOME; tests get a private, writable one."""
    home = tmp_path_factory.getbasetemp() / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))


# ---- the bad-input tally: a line at the end of the run, "bad inputs: N tried, N clear errors" ----------------
# A test marked bad_input tries one bad input (its parameter id names it; several tests may try the same one) and
# passes only when the input gave a clear error. Under pytest-xdist the workers' reports reach this hook in the
# controlling process, which prints the line.
_BAD_INPUTS: dict[str, bool] = {}  # input id -> every test of it passed so far


def pytest_configure(config):
    config.addinivalue_line("markers", "bad_input: tries a bad input that must give a clear error (tallied)")


def pytest_runtest_logreport(report):
    if "bad_input" not in report.keywords or report.skipped or (report.when != "call" and report.passed):
        return
    key = report.nodeid.partition("[")[2].rstrip("]") or report.nodeid
    _BAD_INPUTS[key] = _BAD_INPUTS.get(key, True) and report.passed


def pytest_terminal_summary(terminalreporter):
    if _BAD_INPUTS:
        clear = sum(_BAD_INPUTS.values())
        terminalreporter.write_line(f"bad inputs: {len(_BAD_INPUTS)} tried, {clear} clear errors",
                                    red=clear < len(_BAD_INPUTS), green=clear == len(_BAD_INPUTS))
        if clear < len(_BAD_INPUTS):
            unclear = ", ".join(sorted(k for k, ok in _BAD_INPUTS.items() if not ok))
            terminalreporter.write_line(f"bad inputs without a clear error: {unclear}", red=True)
