#!/usr/bin/env bash
# bprop's GPU path beside burn's wgpu backend on the same adapter, in one run: the
# MNIST-sized training step (784-800-10, ReLU, softmax cross-entropy, batch 128, f32,
# plain SGD) — bprop through `bprop bench --only MNIST-sized` (its product kernels tuned
# per shape, BPROP_KERNEL to force one), burn through benches/burn_peer (`mnist-step-wgpu`,
# built on first use into benches/burn_peer/target: ~670 crates, a long build on 2 cores).
# Both after warm-up steps, alternating for ROUNDS rounds; prints each one's median
# milliseconds per step and the ratio burn / bprop (above 1: bprop is faster).
#
# Then each product of bprop's step in every kernel variant (`bprop bench --tiles`:
# GFLOP/s and ratios side by side), and, with LARGE=1 (the default on a hardware adapter),
# the 4096-wide products (`bprop bench --large --no-plain`) with GFLOP/s beside the CPU
# path's. On a software adapter (lavapipe) a 4096-wide step is minutes per variant, so
# LARGE defaults to 0 there.
#
#   benches/gpu_peers.sh                    3 rounds
#   ROUNDS=5 STEPS=20 benches/gpu_peers.sh
#   LARGE=1 BPROP_KERNEL=subgroup-16x32 benches/gpu_peers.sh
#   BPROP=target/debug/bprop benches/gpu_peers.sh
#   BPROP=.device/bprop BURN=/tmp/burn_peer STEP_ONLY=1 benches/gpu_peers.sh   (benches/device.sh)
#
# BURN=path takes a built burn_peer as it is (no Rust toolchain needed); STEP_ONLY=1 stops
# after the step's comparison.
#
# Needs a Rust toolchain and a GPU adapter both libraries see first (WGPU_BACKEND=vulkan
# pins Vulkan for both). Nothing is installed by this script.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-10}   # burn's timed steps per round (bprop's workload runs 4 per round)
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

# add, skip, rounds, median.
source benches/rounds.sh

# BPROP=path/to/bprop takes a binary as it is (the GPU step's time is the adapter's; a
# debug build adds little to it); by default the release build.
if [ -z "${BPROP:-}" ]; then
    cargo build --release --quiet --bin bprop
    BPROP="${CARGO_TARGET_DIR:-target}/release/bprop"
fi
"$BPROP" devices 2>/dev/null | head -5 || true

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/bprop_step.sh" <<SH
#!/bin/sh
$BPROP bench --only MNIST-sized --rounds 3 --raw --no-plain 2>/dev/null |
    awk -F'\t' '\$3 ~ /^GPU, Auto/ { printf "ms_per_step=%.3f\\n", \$4 / 4 * 1e3 }'
SH
chmod +x "$WORK/bprop_step.sh"
add "bprop GPU path (tuned product kernels)" "$WORK/bprop_step.sh"

if [ -z "${BURN:-}" ] && (cd benches/burn_peer && cargo build --release --quiet --target-dir target) >/dev/null 2>&1; then
    BURN=benches/burn_peer/target/release/burn_peer
fi
if [ -n "${BURN:-}" ] && [ -x "$BURN" ]; then
    cat > "$WORK/burn_step.sh" <<SH
#!/bin/sh
$BURN mnist-step-wgpu $STEPS |
    awk '{ for (i = 1; i <= NF; i++) if (\$i ~ /^ns_per_step=/) { split(\$i, v, "="); printf "ms_per_step=%.3f\\n", v[2] / 1e6 } }'
SH
    chmod +x "$WORK/burn_step.sh"
    add "burn 0.22 wgpu backend" "$WORK/burn_step.sh"
else
    skip "burn 0.22 wgpu backend" "benches/burn_peer did not build (or BURN is not an executable)"
fi

rounds "$ROUNDS" 'ms_per_step=[0-9.]+'
echo "MNIST-sized training step (784-800-10, batch 128, f32), $ROUNDS alternating rounds, medians:"
declare -A MED
for name in "${ORDER[@]}"; do
    if [ -n "${SKIP[$name]:-}" ]; then
        printf '  %-42s skipped (%s)\n' "$name" "${SKIP[$name]}"
        continue
    fi
    MED[$name]=$(median "${VALS[$name]}")
    printf '  %-42s %10.2f ms/step   (rounds:%s)\n' "$name" "${MED[$name]}" "${VALS[$name]}"
done
B="bprop GPU path (tuned product kernels)"
R="burn 0.22 wgpu backend"
if [ -n "${MED[$R]:-}" ]; then
    awk -v b="${MED[$B]}" -v r="${MED[$R]}" 'BEGIN { printf "  burn / bprop: %.2fx (above 1: bprop is faster)\n", r / b }'
fi
[ "${STEP_ONLY:-0}" = 1 ] && exit 0

echo
"$BPROP" bench --only MNIST-sized --tiles --no-plain --rounds "$ROUNDS" | tee "$WORK/tiles.txt"

SOFTWARE=$(grep -c 'software adapter' "$WORK/tiles.txt" || true)
LARGE=${LARGE:-$([ "$SOFTWARE" -gt 0 ] && echo 0 || echo 1)}
if [ "$LARGE" = 1 ]; then
    echo
    "$BPROP" bench --large --no-plain --quick --rounds "$ROUNDS"
else
    echo
    echo "4096-wide products: skipped on a software adapter (LARGE=1 runs them)"
fi
