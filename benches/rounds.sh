# Sourced by the peer benchmarks (peers.sh, mnist_epoch.sh): a list of contestants run in
# alternating rounds, and the median of each one's values.
#
#   add NAME COMMAND      a contestant; COMMAND prints its value as KEY=NUMBER (see rounds)
#   skip NAME WHY         a contestant that does not run here, reported as skipped
#   rounds N PATTERN      N rounds, each running every contestant once in order; a run's
#                         value is the number at the end of the last match of the extended
#                         regex PATTERN in its output (a run without one stops the script);
#                         values collect in VALS[NAME], space-separated
#   median "VALUES"       the median of space-separated numbers

declare -A CMD        # contestant -> command
declare -A SKIP       # contestant -> why it does not run
declare -A VALS       # contestant -> its values, one per round
ORDER=()

add() { ORDER+=("$1"); CMD[$1]=$2; }
skip() { ORDER+=("$1"); SKIP[$1]=$2; }

rounds() {
    local n=$1 pattern=$2 r name out v
    for ((r = 1; r <= n; r++)); do
        for name in "${ORDER[@]}"; do
            [ -n "${SKIP[$name]:-}" ] && continue
            out=$(${CMD[$name]})
            v=$(grep -oE "$pattern" <<<"$out" | tail -1 | grep -oE '[0-9.]+$' || true)
            if [ -z "$v" ]; then
                echo "no value from $name: $out" >&2
                exit 1
            fi
            VALS[$name]="${VALS[$name]:-} $v"
        done
    done
}

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
