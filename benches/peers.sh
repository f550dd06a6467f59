#!/usr/bin/env bash
# The seed's step (2-2-1 sigmoid network, no biases, E = ½(y − o)², learning rate 1, one
# sample, online) timed side by side: the hand-written C loop (../shared/peers/limit_seed.c,
# the machine's practical limit), FANN (../shared/peers/fann_seed.c, with its own bias
# neurons), NumPy, PyTorch on the CPU (and CUDA when there is one), burn's ndarray (f64)
# and wgpu (f32, the first adapter: lavapipe here) backends (benches/burn_peer, a project of
# its own, built on first use into benches/burn_peer/target: ~670 crates, some minutes),
# bprop's CPU path in f64 (`bprop bench --seed-step`: 10^6 steps inside one engine call)
# and bprop's GPU path in f32 (the fused kernel, 10^4 steps in one call). Both GPU rows take
# the first adapter each library picks: the same one on a machine with one adapter.
#
# Every peer runs ROUNDS times, the peers alternating within each round, and the median of
# its rounds is reported in nanoseconds per step, with its ratio to the C loop's median from
# the same run. A peer that is not installed is reported as skipped.
#
#   benches/peers.sh                 5 rounds
#   ROUNDS=9 STEPS=10000000 benches/peers.sh
#   PEERS_DIR=/path/to/peers benches/peers.sh
#
# Needs gcc and a Rust toolchain; FANN from the Debian package libfann-dev; NumPy and
# PyTorch from pip. Nothing is installed by this script.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
STEPS=${STEPS:-1000000}          # C loop, FANN, bprop
PY_STEPS=${PY_STEPS:-20000}      # NumPy and PyTorch: a Python loop costs microseconds a step
BURN_STEPS=${BURN_STEPS:-20000}  # burn ndarray: an autodiff graph per step
BURN_GPU_STEPS=${BURN_GPU_STEPS:-2000}  # burn wgpu: several dispatches and a readback per step
PEERS_DIR=${PEERS_DIR:-../shared/peers}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# add, skip, rounds, median; each peer's command prints ns_per_step=N.
source benches/rounds.sh

# The C loop: the reference every ratio is taken to.
if [ ! -f "$PEERS_DIR/limit_seed.c" ]; then
    echo "no $PEERS_DIR/limit_seed.c (set PEERS_DIR)" >&2
    exit 1
fi
gcc -O3 -march=native -o "$WORK/limit_seed" "$PEERS_DIR/limit_seed.c" -lm
C_NAME="C loop (gcc -O3 -march=native)"
add "$C_NAME" "$WORK/limit_seed $STEPS"

# bprop's CPU path, f64, online, all steps in one engine call.
cargo build --release --quiet --bin bprop
BPROP="${CARGO_TARGET_DIR:-target}/release/bprop"
add "bprop CPU path (f64)" "$BPROP bench --seed-step --steps $STEPS --rounds 1"

# bprop's GPU path, f32 (the fused kernel Auto picks for the seed's network, 10 000 steps
# in one call), on the first adapter: beside burn's wgpu backend (the same adapter where
# there is one; WGPU_ADAPTER_NAME picks bprop's). Each run also times the CPU path and the
# plain passes of that workload, of which only the fused time is read.
cat > "$WORK/bprop_gpu_seed.sh" <<SH
#!/bin/sh
$BPROP bench --only "seed 2-2-1, online, 10000 steps in one call (f32)" --rounds 1 --raw 2>/dev/null |
    awk -F'\t' '\$3 ~ /fused/ { printf "ns_per_step=%.1f\\n", \$4 / 10000 * 1e9 }'
SH
chmod +x "$WORK/bprop_gpu_seed.sh"
if "$WORK/bprop_gpu_seed.sh" | grep -q ns_per_step; then
    add "bprop GPU path (f32, fused kernel)" "$WORK/bprop_gpu_seed.sh"
else
    skip "bprop GPU path" "no GPU adapter"
fi

# FANN (Debian: libfann-dev), double precision.
if [ -f /usr/include/doublefann.h ] && gcc -O3 -march=native -o "$WORK/fann_seed" "$PEERS_DIR/fann_seed.c" -ldoublefann -lm 2>/dev/null; then
    add "FANN $(dpkg-query -W -f='${Version}' libfann-dev 2>/dev/null | cut -d+ -f1) (fann_train, double)" "$WORK/fann_seed $STEPS"
else
    skip "FANN (fann_train)" "libfann-dev is not installed"
fi

# NumPy: the seed's step in float64 arrays, as the blog post writes it but with
# backpropagation's outer-product update.
cat > "$WORK/numpy_seed.py" <<'PY'
import sys, time
import numpy as np
steps = int(sys.argv[1])
x = np.array([[0.35, 0.9]]); y = np.array([[0.5]])
w0 = np.array([[0.1, 0.8], [0.4, 0.6]]); w1 = np.array([[0.3, 0.9]])
sig = lambda z: 1.0 / (1.0 + np.exp(-z))
t0 = time.perf_counter()
for i in range(steps):
    h = sig(x @ w0.T)                  # (1, 2)
    o = sig(h @ w1.T)                  # (1, 1)
    e = 0.5 * ((y - o) ** 2).sum()
    d2 = (o - y) * o * (1 - o)         # δ_2 = ∂E/∂z_2
    d1 = (d2 @ w1) * h * (1 - h)       # δ_1 = (W_2ᵀ δ_2) ⊙ σ'
    w1 -= d2.T @ h                     # lr 1
    w0 -= d1.T @ x
t = time.perf_counter() - t0
print(f"numpy steps={steps} ns_per_step={t * 1e9 / steps:.1f} e={e:.3e}")
PY
if python3 -c 'import numpy' 2>/dev/null; then
    add "NumPy $(python3 -c 'import numpy; print(numpy.__version__)')" "python3 $WORK/numpy_seed.py $PY_STEPS"
else
    skip "NumPy" "numpy is not installed"
fi

# PyTorch: the idiomatic step (autograd, optim.SGD) in float64, on the CPU and on CUDA.
cat > "$WORK/torch_seed.py" <<'PY'
import sys, time
import torch
steps, device = int(sys.argv[1]), sys.argv[2]
torch.set_num_threads(1)
net = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), torch.nn.Sigmoid(),
                          torch.nn.Linear(2, 1, bias=False), torch.nn.Sigmoid()).double().to(device)
with torch.no_grad():
    net[0].weight.copy_(torch.tensor([[0.1, 0.8], [0.4, 0.6]]))
    net[2].weight.copy_(torch.tensor([[0.3, 0.9]]))
x = torch.tensor([[0.35, 0.9]], dtype=torch.float64, device=device)
y = torch.tensor([[0.5]], dtype=torch.float64, device=device)
opt = torch.optim.SGD(net.parameters(), lr=1.0)
def step():
    opt.zero_grad()
    e = 0.5 * ((y - net(x)) ** 2).sum()
    e.backward()
    opt.step()
    return e
for _ in range(100):
    step()
if device == "cuda":
    torch.cuda.synchronize()
t0 = time.perf_counter()
for _ in range(steps):
    e = step()
if device == "cuda":
    torch.cuda.synchronize()
t = time.perf_counter() - t0
print(f"torch-{device} steps={steps} ns_per_step={t * 1e9 / steps:.1f} e={e.item():.3e}")
PY
if python3 -c 'import torch' 2>/dev/null; then
    TORCH=$(python3 -c 'import torch; print(torch.__version__)')
    add "PyTorch $TORCH CPU (autograd, 1 thread)" "python3 $WORK/torch_seed.py $PY_STEPS cpu"
    if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        add "PyTorch $TORCH CUDA ($(python3 -c 'import torch; print(torch.cuda.get_device_name(0))'))" \
            "python3 $WORK/torch_seed.py $PY_STEPS cuda"
    else
        skip "PyTorch CUDA" "no CUDA device"
    fi
else
    skip "PyTorch CPU" "torch is not installed"
    skip "PyTorch CUDA" "torch is not installed"
fi

# burn (crates.io; skipped when it cannot be built, e.g. offline).
BURN=benches/burn_peer/target/release/burn_peer
if (cd benches/burn_peer && cargo build --release --quiet --target-dir target) >"$WORK/burn.log" 2>&1; then
    BURN_VERSION=$(sed -n '/^name = "burn"$/{n;s/^version = "\(.*\)"$/\1/p;}' benches/burn_peer/Cargo.lock)
    add "burn $BURN_VERSION ndarray (f64, autodiff)" "$BURN ndarray $BURN_STEPS"
    add "burn $BURN_VERSION wgpu (f32, autodiff)" "$BURN wgpu $BURN_GPU_STEPS"
else
    skip "burn ndarray" "benches/burn_peer did not build (log: $(tail -1 "$WORK/burn.log"))"
    skip "burn wgpu" "benches/burn_peer did not build"
fi

echo "benches/peers.sh: the seed's online step, $ROUNDS alternating rounds, medians"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //'), $(nproc) logical CPUs"
echo "steps per run: $STEPS (C, FANN, bprop), $PY_STEPS (NumPy, PyTorch), $BURN_STEPS (burn ndarray), $BURN_GPU_STEPS (burn wgpu)"

rounds "$ROUNDS" 'ns_per_step=[0-9.]+'

C_MED=$(median "${VALS[$C_NAME]}")
printf '\n  %-48s %14s %12s\n' "peer" "ns/step" "× C loop"
for name in "${ORDER[@]}"; do
    if [ -n "${SKIP[$name]:-}" ]; then
        printf '  %-48s %14s %12s\n' "$name" "skipped" "(${SKIP[$name]})"
    else
        m=$(median "${VALS[$name]}")
        printf '  %-48s %14.1f %12.2f\n' "$name" "$m" "$(awk -v a="$m" -v b="$C_MED" 'BEGIN {print a / b}')"
    fi
done
