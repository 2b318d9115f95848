"""README examples that run: blocks marked ``<!-- run -->`` are executed, ``<!-- file: NAME -->`` blocks written.

Convention (in README.md): the line before a fenced block says what the test does with it.
``<!-- run -->`` before a ```python block: the block is executed (a fresh namespace, in a temporary folder);
before a ```sh block: every line starting with ``blobbotronic`` is run as ``blobbotronic.cli.main(argv)``
(the same entry point as the installed command, in-process to save start-up time) and must exit 0.
``<!-- file: NAME ... -->`` before a block: its text is written to NAME in that folder first. Blocks run top
to bottom in one folder, so a later example can use an earlier one's files.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^<!--\s*(run|file:\s*(\S+)).*?-->\s*\n```(\w+)\n(.*?)^```", re.M | re.S)


def marked_blocks(text: str) -> list[tuple[str, str | None, str, str]]:
    """(action, file name, language, code) for every marked block, in order."""
    return [("file" if m.group(2) else "run", m.group(2), m.group(3), m.group(4)) for m in FENCE.finditer(text)]


def commands(code: str) -> list[list[str]]:
    """The argv of each ``blobbotronic ...`` line of a shell block (comments dropped)."""
    out = []
    for line in code.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "blobbotronic":
            out.append(words[1:])
    return out


def test_the_convention_finds_the_examples():
    blocks = marked_blocks(README.read_text(encoding="utf-8"))
    kinds = [(action, lang) for action, _, lang, _ in blocks]
    assert ("file", "yaml") in kinds and kinds.count(("run", "python")) >= 2 and ("run", "sh") in kinds
    assert commands("blobbotronic train --data xor  # comment\necho no\n") == [["train", "--data", "xor"]]


def test_readme_examples_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime", reason="the examples export to ONNX: pip install 'blobbotronic[ecosystem]'")
    pytest.importorskip("tensorboard", reason="the examples log to TensorBoard")
    from blobbotronic.cli import main

    monkeypatch.chdir(tmp_path)
    for action, name, lang, code in marked_blocks(README.read_text(encoding="utf-8")):
        if action == "file":
            (tmp_path / name).write_text(code, encoding="utf-8")
        elif lang == "python":
            exec(compile(code, f"README.md ({code.splitlines()[0][:40]}...)", "exec"), {"__name__": "__readme__"})
        elif lang == "sh":
            for argv in commands(code):
                assert main(argv) == 0, f"blobbotronic {' '.join(argv)} failed: {capsys.readouterr().err}"
        else:
            raise AssertionError(f"README.md: cannot run a ```{lang} block")
    # what the examples say they produce
    assert (tmp_path / "blobbotronic-out" / "report" / "resolved-config.yaml").is_file()
    assert (tmp_path / "ckpt" / "model.onnx").is_file() and (tmp_path / "model.torchscript.pt").is_file()
    assert (tmp_path / "shapes.onnx").is_file()
