#!/usr/bin/env bash
# A grid of settings for one PROBEN1 problem, each run through the accuracy example with
# early stopping on 25% of the training set; prints one RESULT line per setting (with its
# best validation MSE and its test MSE), sorted by validation MSE, so that a setting is
# chosen without looking at the test set. BENCHMARKS.md's diabetes paragraph comes from
#
#   benches/proben_grid.sh diabetes
#
# Hidden layers 2, 4, 8, 16, 8-4; iRPROP− and Adam (lr 0.001, 0.003, 0.01; batch 8, 32);
# L2 0, 1e-4, 1e-3, 1e-2; patience 30 and 100. Data from ../shared/data (or $BPROP_DATA).
#
#   GRID=fann benches/proben_grid.sh diabetes
#
# runs instead the 20-run grid of FANN's setting (sigmoid hidden and output units, iRPROP−,
# weights from U(−0.1, 0.1)): 4 and 8 hidden units, patience 30 and 100, seeds 1–5, once
# per loss in $LOSSES (default "mse tanh_error"), each loss's runs sorted on their own.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: benches/proben_grid.sh NAME}
export BPROP_DATA=${BPROP_DATA:-../shared/data}
cargo build --release --quiet --example accuracy
a=target/release/examples/accuracy
run() { "$a" proben "$name" --validation 0.25 "$@" | grep '^RESULT' | sed "s|\$| [$*]|"; }
by_val() { awk '{ for (i = 1; i <= NF; i++) if ($i == "val_mse") print $(i + 1), $0 }' | sort -n | cut -d' ' -f2-; }
if [ "${GRID:-}" = fann ]; then
    for loss in ${LOSSES:-mse tanh_error}; do
        for h in 4 8; do
            for pat in 30 100; do
                for seed in 1 2 3 4 5; do
                    run --hidden $h --activation sigmoid --output sigmoid --optimizer irprop- --loss "$loss" \
                        --init uniform:0.1 --epochs 3000 --patience $pat --seed $seed
                done
            done
        done | by_val
    done
    exit
fi
for h in 2 4 8 16 8,4; do
    for wd in 0 1e-4 1e-3 1e-2; do
        for pat in 30 100; do
            run --hidden $h --patience $pat --weight-decay $wd
            for lr in 0.001 0.003 0.01; do
                for b in 8 32; do
                    run --hidden $h --optimizer adam --lr $lr --batch $b --patience $pat --weight-decay $wd --epochs 2000
                done
            done
        done
    done
done | by_val
