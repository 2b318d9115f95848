"""Sound files as data (data/audio.py): a folder of class folders of .wav files trains, compares and predicts
through the command line; both views (frames for recurrent models and 1-D CNNs, the log-mel picture for 2-D
CNNs) reach the right models; the features match references; broken files get one clear paragraph."""

from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from blobbotronic.cli import main
from blobbotronic.data import audio_features as af
from blobbotronic.data import load, read_inputs
from blobbotronic.errors import BlobError
from blobbotronic.models import create

pytest.importorskip("av")

RATE = 8000
CLASSES = {"rise": (300, 1200), "fall": (1200, 300), "hum": (500, 500)}  # chirp start and end frequencies (Hz)
TINY = ["--budget", "20 steps", "--quiet"]


def chirp(f0: float, f1: float, seconds: float, rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """A linear chirp from f0 to f1 Hz with a little noise, as 16-bit samples."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    x = 0.5 * np.sin(phase) * np.hanning(len(t)) + rng.normal(0, 0.01, len(t))
    return (x * 32767).astype("<i2")


def write_wav(path: Path, pcm: np.ndarray, rate: int = RATE, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return path


def sound_folder(root: Path, per_class: int = 10, seed: int = 0) -> Path:
    """Three classes of chirps (rising, falling, steady) of 0.3 to 0.5 s at 8 kHz, one class folder each."""
    rng = np.random.default_rng(seed)
    for name, (f0, f1) in CLASSES.items():
        for i in range(per_class):
            jitter = rng.uniform(0.9, 1.1)
            write_wav(root / name / f"{name}{i}.wav", chirp(f0 * jitter, f1 * jitter, rng.uniform(0.3, 0.5), rng))
    return root


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_paragraph(code: int, err: str, *mentions: str) -> None:
    assert code == 2, err
    assert err.startswith("error: ") and err.strip().count("\n") == 0 and "Traceback" not in err, err
    for text in mentions:
        assert text in err, f"{text!r} not in: {err}"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # each test decodes its own folder afresh


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return sound_folder(tmp_path / "chirps")


# --- the two views -----------------------------------------------------------------------------------


def test_frames_view_is_a_sequence_of_mfccs_with_lengths(folder: Path) -> None:
    ds = load(folder)
    spec = ds.spec
    assert spec.modality == "sequence" and spec.classes == ("fall", "hum", "rise")
    assert spec.input_shape[1] == 13 and 1 + 16000 * 3 // 10 // 160 <= spec.input_shape[0] <= 1 + 16000 // 2 // 160
    assert spec.extra["audio"]["rate"] == 16000 and spec.extra["variable_length"]
    assert sum(ds.sizes().values()) == 30 and ds.train.lengths is not None
    assert int(ds.train.lengths.max()) <= spec.input_shape[0] < 2 * int(ds.train.lengths.min())
    padded = torch.arange(spec.input_shape[0])[None] >= ds.train.lengths[:, None]
    assert (ds.train.x[padded] == 0).all()  # padding frames are zero after standardising
    real = ds.train.x[~padded]
    assert real.mean(0).abs().max() < 1e-4 and (real.std(0) - 1).abs().max() < 1e-2


def test_image_view_is_a_log_mel_picture_in_unit_range(folder: Path) -> None:
    ds = load(folder, view="image", n_mels=32)
    assert ds.spec.modality == "image" and ds.spec.input_shape[:2] == (1, 32)
    x = ds.train.x
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.allclose(x.amax((1, 2, 3)), torch.ones(len(x)))  # each clip's loudest bin is 0 dB


def test_options_are_checked_in_one_paragraph(folder: Path) -> None:
    for options, text in (({"view": "spectrum"}, "view='spectrum' is not valid"),
                          ({"view": "image", "features": "mfcc"}, "view=image shows the log-mel"),
                          ({"n_mfcc": 50}, "n_mfcc=50 exceeds n_mels=40"),
                          ({"rate": "fast"}, "rate='fast' must be a whole number"),
                          ({"colour": "red"}, "unknown option(s) colour")):
        with pytest.raises(BlobError, match=text.replace("(", r"\(").replace(")", r"\)")):
            load(folder, **options)


def test_features_are_computed_once_then_cached(folder: Path, monkeypatch) -> None:
    from blobbotronic.data import audio

    calls = []
    real = audio.decode
    monkeypatch.setattr(audio, "decode", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = load(folder)
    assert len(calls) == 30
    audio.cached_arrays.__globals__["_MEMORY"].clear()  # from disk, not this process's memory
    second = load(folder)
    assert len(calls) == 30 and torch.equal(first.train.x, second.train.x)
    load(folder, n_mfcc=12)  # other options: decoded again
    assert len(calls) == 60


def test_published_split_and_kept_channels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    root = tmp_path / "split"
    for split, n in (("train", 6), ("test", 2)):
        for name, (f0, f1) in CLASSES.items():
            for i in range(n):
                mono = chirp(f0, f1, 0.4, rng)
                write_wav(root / split / name / f"{i}.wav", np.stack([mono, mono // 2], 1).reshape(-1), channels=2)
    ds = load(root, mono="false")
    assert ds.meta["published_split"] == {"train": 18, "val": 0, "test": 6}
    assert ds.spec.input_shape[1] == 2 * 13 and ds.spec.extra["audio"]["channels"] == 2
    assert load(root).spec.input_shape[1] == 13


# --- features against references ---------------------------------------------------------------------


def test_a_pure_tone_lands_in_the_mel_band_around_its_frequency() -> None:
    rate, n_fft = 16000, 512
    fb = af.mel_filterbank(rate, n_fft, 40)
    centres = af.mel_to_hz(torch.linspace(0, float(af.hz_to_mel(rate / 2)), 42))[1:-1]
    for hz in (250.0, 1000.0, 3000.0):
        tone = torch.sin(2 * np.pi * hz * torch.arange(rate) / rate)[None, None]
        db = af.log_mel(af.power_spectrogram(tone, n_fft, 160, 400), fb)[0, 0]  # (40, frames)
        loudest = int(db.mean(1).argmax())
        assert abs(float(centres[loudest]) - hz) <= float(centres[loudest] - centres[loudest - 1]), (hz, loudest)


def test_power_spectrogram_matches_numpy_fft() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=4000).astype(np.float32)
    got = af.power_spectrogram(torch.from_numpy(x)[None], 512, 160, 400)[0].numpy()
    padded = np.pad(x, 256)
    window = np.zeros(512)
    window[56:456] = np.hanning(401)[:400]  # periodic Hann of 400, centred in 512 (as torch.stft does)
    frames = np.stack([padded[i * 160: i * 160 + 512] * window for i in range(1 + len(x) // 160)], 1)
    want = np.abs(np.fft.rfft(frames, axis=0)) ** 2
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_mfcc_is_the_orthonormal_dct_of_the_log_mel_frames() -> None:
    scipy_fft = pytest.importorskip("scipy.fft")
    db = torch.randn(2, 1, 40, 7)
    want = scipy_fft.dct(db.numpy(), type=2, norm="ortho", axis=-2)[:, :, :13]
    np.testing.assert_allclose(af.mfcc(db, 13).numpy(), want, atol=1e-4)


def test_log_mel_mfcc_and_deltas_match_librosa_where_installed() -> None:
    """librosa is the reference the module text names (not a dependency: skipped where it is not installed)."""
    librosa = pytest.importorskip("librosa")
    assert np.array_equal(af.mel_filterbank(16000, 512, 40).numpy(),
                          librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, htk=True, norm=None))
    y = np.random.default_rng(0).normal(size=16000).astype(np.float32) * np.linspace(0, 1, 16000, dtype=np.float32)
    power = np.abs(librosa.stft(y, n_fft=512, hop_length=160, win_length=400, pad_mode="constant")) ** 2
    mine = af.power_spectrogram(torch.from_numpy(y)[None], 512, 160, 400)
    np.testing.assert_allclose(mine[0].numpy(), power, atol=1e-6 * power.max())
    db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=16000, n_mels=40, htk=True, norm=None),
                             ref=np.max, top_db=80)
    my_db = af.log_mel(mine, af.mel_filterbank(16000, 512, 40))
    np.testing.assert_allclose(my_db[0].numpy(), db, atol=1e-3)
    mfcc = librosa.feature.mfcc(S=db, n_mfcc=13)
    np.testing.assert_allclose(af.mfcc(my_db, 13)[0].numpy(), mfcc, atol=1e-3)
    np.testing.assert_allclose(af.deltas(torch.from_numpy(mfcc)).numpy(),
                               librosa.feature.delta(mfcc, width=5, mode="nearest"), atol=1e-4)


def test_deltas_of_a_ramp_are_its_slope() -> None:
    ramp = torch.arange(10.0)[None].repeat(3, 1) * 2
    assert torch.allclose(af.deltas(ramp)[:, 2:-2], torch.full((3, 6), 2.0))


# --- through the command line, as a user runs it --------------------------------------------------------


def test_compare_trains_a_recurrent_a_convolutional_and_a_hybrid_model(folder: Path, tmp_path: Path, capsys) -> None:
    grid = ["compare", "--data", str(folder), "--models", "gru,cnn,crnn", "--seeds", "3", "--budget", "20 steps",
            "--workers", "1", "--store", str(tmp_path / "runs.db"), "--out", str(tmp_path / "report"), "--json"]
    code, out, err = run(capsys, *grid)
    assert code == 0, err
    runs = json.loads(out)["runs"]
    want = [(m, s) for m in ("cnn", "crnn", "gru") for s in range(3)]
    assert sorted((r["model"], r["seed"]) for r in runs) == want
    assert all(r["cost"]["steps"] == 20 for r in runs)
    md = (tmp_path / "report" / "report.md").read_text()
    assert md.count("\n## ") >= 1 and all(m in md for m in ("| gru |", "| cnn |", "| crnn |"))


@pytest.mark.parametrize("view", ["frames", "image"])
def test_crnn_reads_sound_as_a_spectrogram_whose_columns_are_time(folder: Path, view: str) -> None:
    ds = load(folder, view=view)
    torch.manual_seed(0)
    model = create("crnn", ds.spec).eval()
    x = ds.train.x[:4]
    seq, _ = model.encoder(x)
    frames = ds.spec.input_shape[0] if view == "frames" else ds.spec.input_shape[-1]
    assert seq.shape[1] == frames // 4 // 2  # a 4-frame patch, then one pooled block: one recurrent step a column
    reversed_in_time = x.flip(1 if view == "frames" else -1)
    assert not torch.allclose(model(x), model(reversed_in_time), atol=1e-4)  # it reads time in order
    if view == "frames" and ds.train.lengths is not None:  # a clip's padding shortens its recurrent steps too
        _, lengths = model.encoder(x, ds.train.lengths[:4])
        assert (lengths == (ds.train.lengths[:4] // 8).clamp(1, seq.shape[1])).all()


@pytest.mark.parametrize("view,model", [("frames", "gru"), ("image", "cnn")])
def test_predict_names_a_class_for_a_sound_file(folder: Path, tmp_path: Path, capsys, view: str, model: str) -> None:
    ckpt = tmp_path / f"ckpt-{view}"
    code, _, err = run(capsys, "train", "--data", str(folder), "--model", model, "--data-option", f"view={view}",
                       "--save", str(ckpt), *TINY)
    assert code == 0, err
    new = write_wav(tmp_path / "new.wav", chirp(300, 1200, 0.45, np.random.default_rng(7)), rate=22050)
    code, out, err = run(capsys, "predict", "--checkpoint", str(ckpt), str(new), str(folder / "hum" / "hum0.wav"),
                         "--json")
    assert code == 0, err
    preds = json.loads(out)["predictions"]
    assert [p["input"] for p in preds] == [str(new), str(folder / "hum" / "hum0.wav")]
    assert all(p["label"] in CLASSES for p in preds)
    # predict reads a file exactly as training read it: the training clip's features come back unchanged
    ds = load(folder, view=view)
    x, lengths, _ = read_inputs(ds.spec, [folder / "hum" / "hum0.wav"])
    every = torch.cat([ds.train.x, ds.val.x, ds.test.x])
    padded = torch.zeros(1, *ds.spec.input_shape)
    padded[:, : x.shape[1]] = x[:, : ds.spec.input_shape[0]] if view == "frames" else x
    assert (every - (padded if view == "frames" else x)).flatten(1).abs().amax(1).min() < 1e-4


BROKEN = {"cut.wav": lambda whole: whole[: len(whole) * 2 // 5], "empty.wav": lambda whole: b"",
          "notes.wav": lambda whole: b"Shopping list: eggs, milk, bread.\n"}
SAYS = {"cut.wav": "truncated", "empty.wav": "empty (0 bytes)", "notes.wav": "this is text"}


@pytest.mark.bad_input
@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_wav_gives_one_paragraph_in_train_and_predict_and_is_skipped_when_asked(
        name: str, folder: Path, tmp_path: Path, capsys) -> None:
    whole = (folder / "rise" / "rise0.wav").read_bytes()
    bad = folder / "rise" / name
    bad.write_bytes(BROKEN[name](whole))
    train = ["train", "--data", str(folder), "--model", "gru", *TINY]
    code, _, err = run(capsys, *train, "--no-save")
    one_paragraph(code, err, name, SAYS[name])
    code, out, err = run(capsys, *train, "--save", str(tmp_path / "ckpt"), "--skip-bad", "--json")
    assert code == 0, err
    assert json.loads(out)["data"] == {"skipped": 1, "skipped_files": [str(Path("rise") / name)]}
    code, _, err = run(capsys, "predict", "--checkpoint", str(tmp_path / "ckpt"), str(bad))
    one_paragraph(code, err, name, SAYS[name])
    good = str(folder / "fall" / "fall0.wav")
    code, out, err = run(capsys, "predict", "--checkpoint", str(tmp_path / "ckpt"), good, str(bad), "--skip-bad",
                         "--json")
    assert code == 0 and json.loads(out)["skipped"] == [str(bad)], err


def test_predict_refuses_a_picture_for_a_sound_model(folder: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "train", "--data", str(folder), "--model", "cnn", "--save", str(tmp_path / "c"), *TINY)
    assert code == 0, err
    (tmp_path / "x.png").write_bytes(b"\x89PNG")
    code, _, err = run(capsys, "predict", "--checkpoint", str(tmp_path / "c"), str(tmp_path / "x.png"))
    one_paragraph(code, err, "x.png", "not a sound file")


def test_silence_and_an_odd_sample_format_are_named(folder: Path) -> None:
    write_wav(folder / "hum" / "quiet.wav", np.zeros(2000))
    with pytest.raises(BlobError, match="quiet.wav: silent"):
        load(folder)
    (folder / "hum" / "quiet.wav").unlink()
    raw = bytearray((folder / "hum" / "hum0.wav").read_bytes())
    raw[34:36] = (12).to_bytes(2, "little")  # bits per sample in the fmt chunk
    (folder / "hum" / "odd.wav").write_bytes(bytes(raw))
    with pytest.raises(BlobError, match="odd.wav: wrong sample format: 12-bit integer PCM"):
        load(folder)


# --- export -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("view,model", [("image", "cnn"), ("frames", "gru"), ("frames", "cnn")])
def test_cnn_and_gru_trained_on_sound_export_to_onnx(folder: Path, tmp_path: Path, view: str, model: str) -> None:
    pytest.importorskip("onnxruntime", reason="pip install 'blobbotronic[ecosystem]'")
    from blobbotronic.export import TOLERANCE, export, run_onnx
    from blobbotronic.models import create

    ds = load(folder, view=view)
    torch.manual_seed(0)
    net = create(model, ds.spec).eval()
    rec = export(net, ds.spec, tmp_path / f"{model}.onnx", "onnx")
    assert rec["max_abs_diff"] <= TOLERANCE
    x = ds.test.x[:4]
    lengths = ds.test.lengths[:4] if ds.test.lengths is not None else None
    feed = {"x": x.numpy()}
    if "lengths" in rec.get("inputs", []):
        feed["lengths"] = lengths.numpy()
    with torch.no_grad():
        want = net(x, lengths if "lengths" in feed else None).numpy()
    np.testing.assert_allclose(run_onnx(rec["path"], feed), want, atol=TOLERANCE, rtol=0)


# --- the built-in spoken words ----------------------------------------------------------------------------


def test_spoken_words_recipe_is_reproducible_and_splits_by_voice() -> None:
    from blobbotronic.data import audio_words as w

    clips = w.recipe(0)
    assert clips == w.recipe(0) and clips != w.recipe(1)
    assert len(clips) == len(w.WORDS) * len(w.VOICES) * w.REPEATS == 3000
    voices = {s: {c["voice"] for c in clips if c["split"] == s} for s in w.SPLITS}
    assert [len(v) for v in voices.values()] == list(w.SPLITS.values())
    assert not (voices["train"] & voices["test"]) and not (voices["train"] & voices["val"])


def test_spoken_words_clips_are_synthesised_the_same_every_time() -> None:
    from blobbotronic.data import audio_words as w

    if shutil.which("espeak-ng") is None:
        with pytest.raises(BlobError, match="apt-get install espeak-ng"):
            w.espeak_version()
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng): spoken_words cannot be generated here")
    clip = w.recipe(0)[123]
    a, b = w.render(clip), w.render(clip)
    assert np.array_equal(a, b) and a.dtype == np.dtype("<i2") and len(a) == w.RATE
    assert np.abs(a.astype(float)).max() > 0.05 * 32767


def test_inspect_lists_the_sound_options(folder: Path, capsys) -> None:
    assert main(["inspect", str(folder), "--json"]) == 0
    options = json.loads(capsys.readouterr().out)["options"]
    names = {o["name"] if isinstance(o, dict) else o[0] for o in options}
    assert {"view", "n_mfcc", "rate"} <= names
