#!/usr/bin/env bash
# The GPU measurements of issue #4, as one prepared run on a lent GPU machine (the device
# tool's H200: no Rust toolchain there, PyTorch with CUDA installed, nothing downloadable).
#
#   benches/device.sh prepare     here: build bprop and the accuracy example in release,
#                                 copy them, MNIST and the Vulkan loader's Debian packages
#                                 into .device/ and .gl/ (both git-ignored locally)
#   benches/device.sh run         there (device tool: carry [".gl", ".device"]): unpack the
#                                 loader, then bprop bench (GPU vs CPU, timestamps), the
#                                 large-product throughput and the tiled passes at each
#                                 tile size (32, 64, 128), the fused kernel against the
#                                 separate passes, and MNIST epochs on bprop's GPU path
#                                 beside PyTorch CUDA eager with the same network, batch
#                                 and optimizer, and the MNIST-sized step beside burn's
#                                 wgpu backend (benches/gpu_peers.sh with the burn_peer
#                                 built here, stripped and gzipped to fit the 64 MiB the
#                                 device tool carries). Everything is logged under $OUT.
#
# Budget: about 9 minutes of run time; each part has its own timeout so a hang costs only
# that part. Ratios come from one run; absolute times of a shared machine drift.
set -uo pipefail
cd "$(dirname "$0")/.."

prepare() {
    set -e
    cargo build --release --bin bprop --example accuracy --bench fused
    mkdir -p .device/mnist
    cp target/release/bprop target/release/examples/accuracy .device/
    # burn's peer (benches/burn_peer: a long first build), stripped and gzipped: 13 MB.
    (cd benches/burn_peer && cargo build --release --quiet --target-dir target)
    strip -o .device/burn_peer benches/burn_peer/target/release/burn_peer
    gzip -9f .device/burn_peer
    # The criterion-free fused bench is a plain binary under target/release/deps.
    cp "$(ls -t target/release/deps/fused-* | grep -v '\.d$' | head -1)" .device/fused-bench
    strip .device/bprop .device/accuracy .device/fused-bench
    cp ../shared/data/mnist/*-ubyte.gz .device/mnist/
    for d in /.device/ /.gl/; do
        grep -qxF "$d" .git/info/exclude || echo "$d" >>.git/info/exclude
    done
    mkdir -p .gl /tmp/amd64/partial
    local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086
    apt-get $o update -qq
    # shellcheck disable=SC2086
    (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
    # The device tool carries 64 MiB in all (this tree's files included).
    du -sh .device .gl
}

run() {
    local out=${OUT:-/tmp/bprop-device}
    mkdir -p "$out"
    if ! ldconfig -p | grep -q libvulkan; then
        for f in .gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
    fi
    local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    if [ -f "$icd" ] && ! ls /usr/share/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
        export VK_DRIVER_FILES=$icd
        export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    fi
    export WGPU_BACKEND=vulkan
    local b=.device/bprop
    {
        date -u
        nvidia-smi -L
        timeout 30 "$b" devices
        echo "== bprop bench (GPU vs CPU path, alternating; device time from timestamps)"
        timeout 150 "$b" bench --rounds 5
        echo "== bprop bench --large --tiles (4096-4096-4096, batch 1024: matrix-product GFLOP/s, each tile size)"
        timeout 120 "$b" bench --large --tiles --rounds 3
        echo "== bprop bench --tiles --only MNIST (784-800-10, batch 128: each tile size)"
        timeout 60 "$b" bench --tiles --only MNIST --rounds 5
        echo "== fused kernel vs separate passes"
        timeout 60 .device/fused-bench
        echo "== MNIST-sized step: bprop beside burn's wgpu backend on the same adapter"
        gzip -dc .device/burn_peer.gz >/tmp/burn_peer && chmod +x /tmp/burn_peer
        BPROP=$b BURN=/tmp/burn_peer ROUNDS=5 STEPS=20 STEP_ONLY=1 timeout 120 benches/gpu_peers.sh
    } 2>&1 | tee "$out/bench.txt"
    {
        echo "== MNIST epochs: bprop GPU path vs PyTorch CUDA eager (SGD momentum 0.9, lr 0.1, fp32)"
        for cfg in "800 128" "800 1024" "1024,1024 128" "1024,1024 1024"; do
            # shellcheck disable=SC2086
            set -- $cfg
            BPROP_DATA=.device timeout 90 .device/accuracy mnist --hidden "$1" --batch "$2" --epochs 3 \
                --lr 0.1 --backend gpu --no-eval
            PYTHONUNBUFFERED=1 timeout 90 python3 benches/torch_mnist.py --mnist .device/mnist \
                --hidden "$1" --batch "$2" --epochs 3 --device cuda
        done
    } 2>&1 | tee "$out/mnist.txt"
}

case ${1:-} in
prepare) prepare ;;
run) run ;;
*)
    echo "usage: benches/device.sh prepare | run" >&2
    exit 2
    ;;
esac
