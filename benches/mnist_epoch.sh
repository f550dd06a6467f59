#!/usr/bin/env bash
# One MNIST epoch on the CPU, side by side: bprop's CPU path (784-800-10, ReLU + softmax
# cross-entropy, batch 128, SGD momentum 0.9, f32, 60 000 images) on 1 and 2 threads,
# the same epoch in NumPy, in PyTorch eager (CPU, skipped when not installed) and in burn's
# ndarray backend (benches/burn_peer: nn::Linear, autodiff, optim::Sgd; skipped when it does
# not build), and NumPy's float32 matrix-product peak (2048³ sgemm) on 1 and 2 threads, all alternating
# within each round; medians of ROUNDS rounds. An epoch counts 2.557 MFLOP per image (the
# forward, delta and gradient products of both layers, without the first layer's delta),
# so its GFLOP/s is 60 000 · 2.557e6 / seconds, set against the peak of the same run.
#
#   benches/mnist_epoch.sh            3 rounds
#   ROUNDS=5 benches/mnist_epoch.sh
#
# Data from ../shared/data/mnist (or $BPROP_DATA/mnist). Needs python3 with NumPy.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
export BPROP_DATA=${BPROP_DATA:-../shared/data}
MNIST="$BPROP_DATA/mnist"
cargo build --release --quiet --example accuracy
EX="${CARGO_TARGET_DIR:-target}/release/examples/accuracy"
PY="python3 benches/mnist_epoch.py"

# add, rounds, median (benches/rounds.sh).
source benches/rounds.sh
add "bprop CPU path, 1 thread" "env BPROP_THREADS=1 $EX mnist --epochs 1 --no-eval"
add "bprop CPU path, 2 threads" "env BPROP_THREADS=2 $EX mnist --epochs 1 --no-eval"
add "NumPy, 1 thread" "env OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $PY numpy $MNIST"
add "NumPy, 2 threads" "env OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 $PY numpy $MNIST"
HAVE_TORCH=0
if python3 -c 'import torch' 2>/dev/null; then
    HAVE_TORCH=1
    add "PyTorch CPU eager, 1 thread" "env BPROP_THREADS=1 $PY torch $MNIST"
    add "PyTorch CPU eager, 2 threads" "env BPROP_THREADS=2 $PY torch $MNIST"
fi
# burn's ndarray backend (benches/burn_peer, a separate project built on first use).
if (cd benches/burn_peer && cargo build --release --quiet --target-dir target) >/dev/null 2>&1; then
    BURN="benches/burn_peer/target/release/burn_peer mnist-epoch $MNIST"
    add "burn ndarray, 1 thread" "env RAYON_NUM_THREADS=1 MATMUL_NUM_THREADS=1 $BURN"
    add "burn ndarray, 2 threads" "env RAYON_NUM_THREADS=2 MATMUL_NUM_THREADS=2 $BURN"
else
    skip "burn ndarray" "benches/burn_peer did not build"
fi
add "peak 1" "env OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $PY peak"
add "peak 2" "env OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 $PY peak"

echo "benches/mnist_epoch.sh: one MNIST epoch (784-800-10, batch 128, momentum, f32), $ROUNDS alternating rounds, medians"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //'), $(nproc) logical CPUs"
echo "NumPy $(python3 -c 'import numpy; print(numpy.__version__)')"

rounds "$ROUNDS" '(epoch_s=|gflops=|EPOCH_S 1 )[0-9.]+'

P1=$(median "${VALS[peak 1]}")
P2=$(median "${VALS[peak 2]}")
printf '\n  NumPy sgemm peak: %.1f GFLOP/s on 1 thread, %.1f on 2\n\n' "$P1" "$P2"
printf '  %-32s %9s %9s %14s %14s\n' "epoch" "seconds" "GFLOP/s" "% of peak" "× bprop same threads"
for name in "${ORDER[@]}"; do
    [[ $name == peak* ]] && continue
    if [ -n "${SKIP[$name]:-}" ]; then
        printf '  %-32s skipped (%s)\n' "$name" "${SKIP[$name]}"
        continue
    fi
    s=$(median "${VALS[$name]}")
    if [[ $name == *"2 threads" ]]; then p=$P2; ref=$(median "${VALS[bprop CPU path, 2 threads]}"); else p=$P1; ref=$(median "${VALS[bprop CPU path, 1 thread]}"); fi
    awk -v n="$name" -v s="$s" -v p="$p" -v ref="$ref" 'BEGIN {
        g = 60000 * 2.557e6 / s / 1e9
        printf "  %-32s %9.3f %9.1f %13.0f%% %14.2f\n", n, s, g, 100 * g / p, s / ref }'
done
one=$(median "${VALS[bprop CPU path, 1 thread]}")
two=$(median "${VALS[bprop CPU path, 2 threads]}")
awk -v a="$one" -v b="$two" 'BEGIN { printf "\n  bprop: 2 threads %.2fx faster than 1\n", a / b }'
[ "$HAVE_TORCH" = 1 ] || echo "  PyTorch: skipped (torch is not installed)"
