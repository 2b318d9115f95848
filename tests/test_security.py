"""Security: nothing from a user's file is ever unpickled, and every report escapes the strings users supply.

A planted pickle (as .npz, .npy, .pkl, .pt and checkpoint weights) whose unpickling would write a marker
file is refused with a clear error, and the marker never appears. A scan of the package's source fails
on any call that could unpickle. The claims report and the explain sections show a class, data set or
claim named ``<script>alert(1)</script>`` as text, in every field (tests/test_claims.py opens the claims
report in headless Chromium).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from blobbotronic.data import Spec
from blobbotronic.models import create
from blobbotronic.train import save_checkpoint

from .test_reliability import assert_clear, run_cli

SOURCE = Path(__file__).parents[1] / "blobbotronic"
EVIL = "<script>alert(1)</script>"


# ---- security: pickles ------------------------------------------------------------------------------------


class Payload:
    """Unpickling this writes ``marker``: proof that a pickle ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pickle executed')",))


def plant(kind: str, folder: Path, marker: Path) -> tuple[list[str], Path]:
    """A malicious pickle planted as ``kind``; returns the CLI arguments that read it, and the file."""
    evil = np.array([Payload(marker), 1], dtype=object)
    seq_ckpt = save_checkpoint(create("mlp", Spec("s", "sequence", "classify", (10, 2), 2, classes="ab")),
                               folder / "seq")
    if kind == "npz":
        np.savez(folder / "data.npz", x=evil, y=np.array([0, 1]))
        return ["train", "--data", folder / "data.npz", "--model", "mlp", "--no-save"], folder / "data.npz"
    if kind == "npy":
        np.save(folder / "input.npy", evil, allow_pickle=True)
        return ["predict", "--checkpoint", seq_ckpt, folder / "input.npy"], folder / "input.npy"
    raw = pickle.dumps(Payload(marker))
    if kind == "pickle_named_npz":
        (folder / "raw.npz").write_bytes(raw)
        return ["train", "--data", folder / "raw.npz", "--model", "mlp", "--no-save"], folder / "raw.npz"
    if kind == "pkl":
        (folder / "data.pkl").write_bytes(raw)
        return ["train", "--data", folder / "data.pkl", "--model", "mlp", "--no-save"], folder / "data.pkl"
    if kind == "pt":
        torch.save({"state": Payload(marker)}, folder / "model.pt")
        return ["evaluate", "--checkpoint", folder / "model.pt"], folder / "model.pt"
    (seq_ckpt / "model.safetensors").write_bytes(raw)  # kind == "checkpoint": the weights file is a pickle
    return ["predict", "--checkpoint", seq_ckpt, folder / "input.npy"], seq_ckpt / "model.safetensors"


PICKLES = ["npz", "npy", "pickle_named_npz", "pkl", "pt", "checkpoint"]


def test_the_planted_payload_is_live(tmp_path):
    """The check below can fail: unpickling the payload does run it."""
    pickle.loads(pickle.dumps(Payload(tmp_path / "ran")))
    assert (tmp_path / "ran").read_text() == "pickle executed"


@pytest.mark.bad_input
@pytest.mark.parametrize("kind", PICKLES, ids=[f"pickle_as_{k}" for k in PICKLES])
def test_a_planted_pickle_is_refused_and_never_run(kind, tmp_path, capsys):
    marker = tmp_path / "pwned"
    argv, path = plant(kind, tmp_path, marker)
    code, err = run_cli(capsys, *argv)
    assert_clear(code, err, path)
    assert not marker.exists(), "a pickle from a user's file was executed"


UNSAFE = re.compile(r"pickle\.loads?\(|torch\.load\(|joblib\.load|dill\.|cloudpickle\.|read_pickle|shelve\.|"
                    r"marshal\.loads?|allow_pickle\s*=\s*True|yaml\.load\(|yaml\.unsafe_load|weights_only\s*=\s*False|"
                    r"np\.load\((?![^)]*allow_pickle=False)")
ALLOWED = {("export.py", "torch.jit.load"): "re-reads the TorchScript file it has just written, to verify it"}


def test_no_code_path_unpickles():
    """Every load in the package refuses pickles: no pickle/torch.load/joblib, np.load only with allow_pickle=False."""
    found = []
    for path in SOURCE.rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if UNSAFE.search(line.split("#")[0]):
                found.append(f"{path.relative_to(SOURCE)}:{n}: {line.strip()}")
    assert not found, "loads that could unpickle a user's file:\n" + "\n".join(found)
    assert UNSAFE.search("np.load(f)") and not UNSAFE.search("np.load(f, allow_pickle=False)")
    assert all((SOURCE / f).read_text().count(s) == 1 for f, s in ALLOWED)


# ---- reports: user strings are text, never markup ----------------------------------------------------------


def _claims_page(folder: Path) -> Path:
    from PIL import Image

    from blobbotronic.claims.report import render

    Image.new("RGB", (40, 30), (200, 30, 30)).save(folder / "fig.png")
    row = {"arm": EVIL, "dataset": f"<b>{EVIL}</b>", "metric": "<i>acc</i>", "mean": 0.5, "ci_low": 0.4,
           "ci_high": 0.6, "n": 3, "train_seconds": 1.0, "params": 10}
    results = [{"id": "C1'><img src=x onerror=alert(2)>", "verdict": EVIL, "key": f"key {EVIL}", "claim": EVIL,
                "experiment": f"<img src=x onerror=alert(3)> {EVIL}", "rule": EVIL, "error": EVIL,
                "evidence": {"table": [row]}}]
    html, _ = render(results, {results[0]["id"]: [(folder / "fig.png", EVIL)]}, folder / "claims",
                     {"mode": EVIL, "seconds": 1, "version": EVIL})
    return html


def test_claims_report_escapes_every_user_string(tmp_path):
    page = _claims_page(tmp_path).read_text()
    assert "<script" not in page.lower() and "<img src=x" not in page and "<b>&lt;" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 10
    md = (tmp_path / "claims" / "claims.md").read_text()
    assert "<script" not in md and "<img" not in md and "&lt;script&gt;" in md


def test_explain_section_escapes_titles_notes_tables_and_alt_text(tmp_path):
    from PIL import Image

    from blobbotronic.explain.explainers import Explanation
    from blobbotronic.explain.section import explain_section

    Image.new("L", (10, 10)).save(tmp_path / "f.png")
    e = Explanation("saliency", EVIL, figures=[str(tmp_path / "f.png")], note=f"<b>{EVIL}</b>",
                    table=[{EVIL: "<img src=x onerror=alert(4)>", "class": EVIL}])
    html = explain_section([e], f"<h1>{EVIL}</h1>")
    assert "<script" not in html and "<img src=x" not in html and "<b>" not in html and "<h1>" not in html
    assert html.count("&lt;script&gt;") == 6 and 'alt="&lt;script&gt;' in html
