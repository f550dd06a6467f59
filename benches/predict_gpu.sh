#!/usr/bin/env bash
# `bprop predict` on the GPU path, before and after the forward-only inference route
# (issue #13's target: 100 000 rows of a 784-800-10 model, at least 10x faster on the same
# adapter). Builds the binary at BASE (default: the commit before the route) in a
# temporary worktree beside the current one, trains one 784-800-10 model on MNIST's test
# set with the CPU path, writes 100 000 rows of MNIST pixels (the training images, then
# the test images again) as a u8 .npy, and times `predict --backend gpu` with both
# binaries in alternating rounds. Prints each time and the ratio base / head, and checks
# the GPU's labels against the CPU path's. (100 000 rows of 784 f32 inputs are 313 MB:
# over lavapipe's 128 MiB storage binding, the base fails; SMALL=1 takes 40 000 rows, which
# both can run.)
#
#   benches/predict_gpu.sh [ROUNDS]        ROUNDS defaults to 3; BASE=commit to change it
#
# Needs ../shared/data/mnist, python3 with numpy, a GPU adapter (lavapipe here).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
BASE=${BASE:-9f493c3}
WORK=${WORK:-/tmp/bprop-predict-bench}
MNIST=../shared/data/mnist
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
mkdir -p "$WORK"

cargo build --release --quiet --bin bprop
HEAD_BIN=target/release/bprop
if [ ! -x "$WORK/base/target/release/bprop" ]; then
    rm -rf "$WORK/base"
    git worktree add --force --detach "$WORK/base" "$BASE" >/dev/null
    (cd "$WORK/base" && cargo build --release --quiet --bin bprop)
fi
BASE_BIN=$WORK/base/target/release/bprop

if [ ! -f "$WORK/model.bprop" ]; then
    "$HEAD_BIN" train "$MNIST/t10k-images-idx3-ubyte.gz" --layers 800 --epochs 1 --backend cpu \
        -q -o "$WORK/model.bprop"
fi
ROWS=100000
[ "${SMALL:-0}" = 1 ] && ROWS=40000
if [ ! -f "$WORK/rows-$ROWS.npy" ]; then
    python3 - "$MNIST" "$WORK/rows-$ROWS.npy" "$ROWS" <<'PY'
import gzip, sys
import numpy as np
d, out = sys.argv[1], sys.argv[2]
def images(name):
    with gzip.open(f"{d}/{name}", "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
n = int(sys.argv[3])
x = np.concatenate([images("train-images-idx3-ubyte.gz"), images("t10k-images-idx3-ubyte.gz")] * 2)[:n]
np.save(out, np.ascontiguousarray(x))
PY
fi

echo "adapter: $("$HEAD_BIN" devices 2>/dev/null | head -3 | tr '\n' ' ')"
run() { # binary [out] -> seconds, or "failed"
    local t0 t1
    t0=$(date +%s.%N)
    if ! "$1" predict "$WORK/model.bprop" "$WORK/rows-$ROWS.npy" --backend gpu -o "${2:-$WORK/out.csv}" \
        >/dev/null 2>"$WORK/err.txt"; then
        echo "failed: $(tail -n 1 "$WORK/err.txt")" >&2
        echo 0
        return
    fi
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}
# The GPU's predictions against the CPU path's: the same label on (nearly) every row.
"$HEAD_BIN" predict "$WORK/model.bprop" "$WORK/rows-$ROWS.npy" --backend cpu -o "$WORK/cpu.csv" >/dev/null
run "$HEAD_BIN" "$WORK/gpu.csv" >/dev/null
echo "rows whose GPU label differs from the CPU path's: $(paste -d, <(cut -d, -f1 "$WORK/cpu.csv") \
    <(cut -d, -f1 "$WORK/gpu.csv") | awk -F, 'NR > 1 && $1 != $2' | wc -l) of $(($(wc -l <"$WORK/cpu.csv") - 1))"
for r in $(seq 1 "$ROUNDS"); do
    b=$(run "$BASE_BIN")
    h=$(run "$HEAD_BIN")
    if [ "$b" = 0 ]; then
        printf 'round %d: base failed, head %.2f s\n' "$r" "$h"
    else
        printf 'round %d: base %.2f s, head %.2f s, base/head %.1fx\n' "$r" "$b" "$h" "$(echo "$b / $h" | bc -l)"
    fi
done
