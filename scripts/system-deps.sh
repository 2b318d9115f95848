#!/usr/bin/env bash
# Debian packages used by tests and reports. Missing ones are reported, never fatal: the code that
# needs them says what to install. espeak-ng synthesises the built-in spoken_words set (data/audio_words.py).
# Packages named as arguments replace the list: `make demo` asks for espeak-ng only (the claims' speech).
set -u
PKGS="${*:-chromium chromium-driver fonts-wqy-microhei espeak-ng}"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # apt's output goes to a log in the repository's ignored output folder, not to a path outside it
  log="$(cd "$(dirname "$0")/.." && pwd)/blobbotronic-out/apt.log"
  mkdir -p "$(dirname "$log")"
  echo "installing Debian packages:$missing (log: $log)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing) >"$log" 2>&1 \
    || echo "warning: could not install$missing (see $log); tests that need them will say so"
else
  echo "note: not root or no apt-get; please install:$missing"
fi
exit 0
