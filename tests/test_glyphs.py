"""Tests of CJK glyph rendering (font discovery, bitmaps, cache) and of the glyph_cnn_lstm model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from blobbotronic.data import Spec, glyphs
from blobbotronic.errors import BlobError
from blobbotronic.models import create


def font_or_skip():
    try:
        return glyphs.find_cjk_font()
    except BlobError as e:
        pytest.skip(str(e))  # `make install` installs noto-cjk-sans-otc; `make system-deps` fonts-wqy-microhei


def test_a_han_character_renders_ink_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    font_or_skip()
    table = glyphs.glyph_table(["<pad>", "<unk>", "中", "国", "iphone", "，"], 16)
    assert table.shape == (6, 16, 16) and table.dtype == np.float32
    assert table[0].sum() == 0 and table[1].sum() == 0  # padding and unknown are blank
    assert table[2].sum() > 20 and table[3].sum() > 20 and table[4].sum() > 3
    assert not np.allclose(table[2], table[3])
    assert table[5].sum() < table[2].sum() / 3  # a comma stays small
    cached = list((tmp_path / "cache" / "blobbotronic" / "glyphs").glob("*16px*.npz"))
    assert len(cached) == 1
    # drawn once: a second call reads the cache even if rendering were impossible
    monkeypatch.setattr(glyphs, "render", lambda *a: (_ for _ in ()).throw(AssertionError("rendered again")))
    np.testing.assert_array_equal(glyphs.glyph_table(["国", "中"], 16), table[[3, 2]])


def test_missing_font_is_one_paragraph_naming_the_pip_package_and_the_debian_one(monkeypatch):
    monkeypatch.delenv(glyphs.FONT_ENV, raising=False)
    monkeypatch.setattr(glyphs, "package_font", lambda: None)
    monkeypatch.setattr(glyphs, "_fontconfig_fonts", lambda: [])
    monkeypatch.setattr(glyphs, "KNOWN_FONTS", ("/nonexistent/font.ttc",))
    with pytest.raises(BlobError) as err:
        glyphs.find_cjk_font()
    text = str(err.value)
    assert "\n" not in text and "pip install noto-cjk-sans-otc==" in text and "make demo" in text
    assert "apt-get install fonts-wqy-microhei" in text and glyphs.FONT_ENV in text
    monkeypatch.setenv(glyphs.FONT_ENV, "/nonexistent/x.ttf")
    with pytest.raises(BlobError, match="is not a font file. Point it at a .*or unset it.*noto-cjk-sans-otc"):
        glyphs.find_cjk_font()


def test_the_packaged_font_comes_before_the_systems_and_says_so(monkeypatch):
    """Every machine with the project installed draws with the same pinned face, whatever fonts it has."""
    monkeypatch.delenv(glyphs.FONT_ENV, raising=False)
    packaged = glyphs.package_font()
    assert packaged is not None, "noto-cjk-sans-otc is not installed: `make install` installs it (the text extra)"
    font = glyphs.find_cjk_font()
    assert font == packaged and font.origin.startswith("package noto-cjk-sans-otc ")
    about = font.describe()
    assert about["font"] == "Noto Sans CJK SC Regular" and about["file"] == "NotoSansCJK-Regular.ttc"
    assert len(about["sha256"]) == 16
    # without the package, a system font is found and named as such
    monkeypatch.setattr(glyphs, "package_font", lambda: None)
    try:
        other = glyphs.find_cjk_font()
    except BlobError:
        return  # no system CJK font on this machine: the message is tested above
    assert other.origin in ("fontconfig", "known path") and other.describe()["font"] != about["font"]


EMPTY_FONTCONFIG = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig></fontconfig>
"""
DRAW = """
import json
from blobbotronic.data import glyphs
glyphs.KNOWN_FONTS = ()  # no font at a system path either: only what fontconfig shows, and the package
font = glyphs.find_cjk_font()
chars = list("中国人大小山水火木好坏我你他的是不了")
table = glyphs.glyph_table(chars, 16)
print(json.dumps({"origin": font.origin, "face": font.describe()["font"], "shape": list(table.shape),
                  "ink": table.reshape(len(chars), -1).sum(1).tolist(),
                  "distinct": len({t.tobytes() for t in table})}))
"""


def test_glyphs_draw_in_a_fresh_process_that_sees_no_system_font(tmp_path):
    """FONTCONFIG_FILE points at an empty configuration, as on a fresh machine with no CJK font: the packaged
    font still draws every character, each differently."""
    conf = tmp_path / "fonts.conf"
    conf.write_text(EMPTY_FONTCONFIG)
    env = {k: v for k, v in os.environ.items() if k != glyphs.FONT_ENV}
    env.update(FONTCONFIG_FILE=str(conf), XDG_CACHE_HOME=str(tmp_path / "cache"), HOME=str(tmp_path))
    if shutil.which("fc-list"):
        seen = subprocess.run(["fc-list", ":lang=zh"], env=env, capture_output=True, text=True, timeout=60).stdout
        assert not seen.strip(), f"the empty configuration still shows fonts: {seen[:200]}"
    done = subprocess.run([sys.executable, "-c", DRAW], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["origin"].startswith("package noto-cjk-sans-otc") and out["face"] == "Noto Sans CJK SC Regular"
    assert out["shape"] == [18, 16, 16]
    assert min(out["ink"]) > 5  # every character left ink (not a blank square)
    assert out["distinct"] == 18  # and no two characters drew the same bitmap (no shared 'missing' box)


def test_the_packaged_font_covers_the_glyph_data_sets():
    """Every character of the Chinese data sets' vocabularies is drawn (Unicode's private-use characters aside,
    which no font can be expected to have)."""
    from blobbotronic.data import load

    font = glyphs.package_font()
    assert font is not None, "noto-cjk-sans-otc is not installed: `make install` installs it (the text extra)"
    face = font.face(24)
    missing = bytes(face.getmask("\U0010fffd"))
    for name in ("chinese_sentiment", "chinese_entities"):
        vocab = load(name).spec.extra["vocab"]
        chars = [t for t in vocab if len(t) == 1 and t.strip() and not 0xE000 <= ord(t) <= 0xF8FF]
        assert len(chars) > 1000
        undrawn = [c for c in chars if bytes(face.getmask(c)) == missing]
        assert not undrawn, f"{name}: {len(undrawn)} characters not in {font.describe()['font']}: {undrawn[:20]}"


def test_a_latin_only_font_is_not_taken_for_cjk():
    dejavu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if not glyphs.Path(dejavu).is_file():
        pytest.skip("DejaVu not installed")
    assert not glyphs._draws(glyphs.Path(dejavu), "中")
    font = font_or_skip()
    assert glyphs._draws(font.path, "中", font.index)


def test_glyph_cnn_lstm_uses_the_vocabulary(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    font_or_skip()
    vocab = ["<pad>", "<unk>", "好", "坏", "很", "不"]
    spec = Spec(
        "s",
        "text",
        "classify",
        (4,),
        2,
        classes=("neg", "pos"),
        vocab_size=len(vocab),
        extra={"vocab": vocab, "tokenizer": "cjk", "max_len": 4},
    )
    torch.manual_seed(0)
    model = create("glyph_cnn_lstm", spec, size=16, embed_dim=0)  # glyphs alone: no character embedding to learn from
    assert model.glyphs.shape == (6, 1, 16, 16) and "glyphs" not in model.state_dict()  # rebuilt, not saved
    x = torch.tensor([[4, 2, 0, 0], [5, 2, 0, 0], [4, 3, 0, 0], [5, 3, 0, 0]])
    y = torch.tensor([1, 1, 0, 0])
    lengths = torch.tensor([2, 2, 2, 2])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(model(x, lengths), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (model(x, lengths).argmax(1) == y).all(), loss.item()  # told apart by the last glyph: 好 or 坏
