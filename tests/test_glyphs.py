"""Tests of CJK glyph rendering (font discovery, bitmaps, cache) and of the glyph_cnn_lstm model."""

from __future__ import annotations

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
        pytest.skip(str(e))  # `make system-deps` installs fonts-wqy-microhei


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


def test_missing_font_names_the_debian_package(monkeypatch):
    monkeypatch.delenv(glyphs.FONT_ENV, raising=False)
    monkeypatch.setattr(glyphs, "_fontconfig_fonts", lambda: [])
    monkeypatch.setattr(glyphs, "KNOWN_FONTS", ("/nonexistent/font.ttc",))
    with pytest.raises(BlobError, match="apt-get install fonts-wqy-microhei"):
        glyphs.find_cjk_font()
    monkeypatch.setenv(glyphs.FONT_ENV, "/nonexistent/x.ttf")
    with pytest.raises(BlobError, match="not a font file.*fonts-wqy-microhei"):
        glyphs.find_cjk_font()


def test_a_latin_only_font_is_not_taken_for_cjk():
    dejavu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if not glyphs.Path(dejavu).is_file():
        pytest.skip("DejaVu not installed")
    assert not glyphs._draws(glyphs.Path(dejavu), "中")


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
