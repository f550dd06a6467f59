#!/usr/bin/env bash
# Runs every fuzz target of bprop's parsers for a bounded time, one after the other, in one
# process each (the machines are small: no parallel jobs).
#
#   fuzz/run.sh [SECONDS]      # per target; default 60
#   TARGETS="csv npy" fuzz/run.sh 300
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Each target starts
# from its seeds (fuzz/seeds/<target>, copied into fuzz/corpus/<target>, which grows and is
# not committed). Crashes, leaks and inputs that exceed the memory limit land in
# fuzz/artifacts/<target>/; copy each into tests/fixtures/fuzz/<target>/ and add it to
# tests/io/fuzz_regressions.rs. The last line of each target's log (fuzz/logs/<target>.log)
# gives its executions; a summary is printed at the end.
set -euo pipefail
secs=${1:-60}
cd "$(dirname "$0")"
targets=${TARGETS:-"model_file model_header csv npy idx fann fann_net"}
mkdir -p logs
cargo +nightly fuzz build -O -a -s none
status=0
for t in $targets; do
    mkdir -p "corpus/$t"
    cp -n "seeds/$t"/* "corpus/$t/" 2>/dev/null || true
    echo "== $t: ${secs}s"
    # -rss_limit_mb / -malloc_limit_mb: an input that makes a parser hold more than 2 GiB
    # is a finding, like a panic.
    if ! cargo +nightly fuzz run -O -a -s none "$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"logs/$t.log" 2>&1; then
        echo "   FOUND something: see logs/$t.log and artifacts/$t/"
        status=1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo "?")
    echo "   $runs executions"
done
exit $status
