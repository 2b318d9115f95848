#!/usr/bin/env bash
# On a CUDA machine: the MNIST-1D grid (logistic, mlp, cnn, gru x seeds, bf16 autocast, data on the GPU)
# and the claims suite, then a table of each. Run from the repository root:
#
#   bash bench/gpu.sh                               # the grid (5 seeds x 6,000 steps) and `claims --full`
#   STEPS=1000 SEEDS=3 CLAIMS_ONLY=rnn-sequence bash bench/gpu.sh
#   CLAIMS=none bash bench/gpu.sh                   # the grid only
#
# Settings (environment): PYTHON (default python3), OUT_DIR (default blobbotronic-out/gpu), STEPS, SEEDS,
# MODELS, CLAIMS (full | quick | none), CLAIMS_ONLY (claim ids, comma-separated), CLAIMS_TIMEOUT (seconds).
set -euo pipefail
PY=${PYTHON:-python3}
OUT_DIR=${OUT_DIR:-blobbotronic-out/gpu}
STEPS=${STEPS:-6000}
SEEDS=${SEEDS:-5}
MODELS=${MODELS:-logistic,mlp,cnn,gru}
CLAIMS=${CLAIMS:-full}
CLAIMS_TIMEOUT=${CLAIMS_TIMEOUT:-7200}
mkdir -p "$OUT_DIR"

"$PY" - <<'EOF'
import torch
if not torch.cuda.is_available():
    raise SystemExit("bench/gpu.sh needs a CUDA GPU; PyTorch sees none here.")
p = torch.cuda.get_device_properties(0)
print(f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, bf16 {torch.cuda.is_bf16_supported()}")
EOF

# ---- the MNIST-1D grid ------------------------------------------------------------------------------------
rm -f "$OUT_DIR/mnist1d.db"*
start=$(date +%s.%N)
"$PY" -m blobbotronic compare --data mnist1d --models "$MODELS" --seeds "$SEEDS" --budget "$STEPS steps" \
    --device cuda --store "$OUT_DIR/mnist1d.db" --out "$OUT_DIR/mnist1d" --json --quiet > "$OUT_DIR/mnist1d.json"
end=$(date +%s.%N)
"$PY" - "$OUT_DIR/mnist1d.json" "$start" "$end" <<'EOF'
import json, statistics, sys
from collections import defaultdict

obj = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
by = defaultdict(list)
for r in obj["runs"]:
    by[r["model"]].append(r)
print(f"\nMNIST-1D on the GPU, {len(obj['runs'])} runs, wall time {wall:.1f} s (the whole command: start-up, "
      "training, evaluation, report)")
print(f"{'model':<10}{'seeds':>6}{'test acc (mean ± sd)':>24}{'steps':>8}{'train s/run':>13}{'steps/s':>10}"
      f"{'stacked':>9}{'stopped':>16}")
for m, rs in by.items():
    acc = [100 * r["metrics"]["accuracy"] for r in rs]
    sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
    secs = statistics.fmean(r["cost"]["train_seconds"] for r in rs)
    steps = statistics.fmean(r["cost"]["steps"] for r in rs)
    stopped = ",".join(sorted({r["stopped"] for r in rs}))
    print(f"{m:<10}{len(rs):>6}{statistics.fmean(acc):>17.1f} ± {sd:4.1f}{steps:>8.0f}{secs:>13.2f}"
          f"{steps / secs:>10.0f}{rs[0]['cost'].get('batched', 1):>9}{stopped:>16}")
EOF

# ---- the claims suite -------------------------------------------------------------------------------------
if [ "$CLAIMS" = none ]; then exit 0; fi
if ! "$PY" -m blobbotronic claims --help >/dev/null 2>&1; then
    echo "no claims command in this version: skipping the claims suite"; exit 0
fi
only=()
if [ -n "${CLAIMS_ONLY:-}" ]; then only=(--only "$CLAIMS_ONLY"); fi
rm -f "$OUT_DIR/claims.db"*
start=$(date +%s.%N)
set +e
timeout "$CLAIMS_TIMEOUT" "$PY" -m blobbotronic claims "--$CLAIMS" "${only[@]}" --device cuda \
    --store "$OUT_DIR/claims.db" --out "$OUT_DIR/claims" --json --quiet > "$OUT_DIR/claims.json"
status=$?
set -e
end=$(date +%s.%N)
if [ $status -ne 0 ]; then
    echo "claims stopped with status $status (124: past CLAIMS_TIMEOUT=${CLAIMS_TIMEOUT}s); runs so far are in $OUT_DIR/claims.db"
    exit $status
fi
"$PY" - "$OUT_DIR/claims.json" "$start" "$end" <<'EOF'
import json, sys

obj = json.load(open(sys.argv[1]))
print(f"\nClaims on the GPU, wall time {float(sys.argv[3]) - float(sys.argv[2]):.1f} s")
print(f"{'claim':<20}{'verdict':<16}the key number")
for c in obj["claims"]:
    print(f"{c['id']:<20}{c['verdict']:<16}{c['evidence']['key']}")
EOF
