#!/usr/bin/env bash
# bench/inventory-scale.sh: `rtmig inventory --list` and `rtmig plan` on a generated inventory of
# N hosts with group_vars/ and host_vars/ (bench/gen-inventory.py): wall time and maximum RSS
# from GNU time, the median of R runs each. No hosts are contacted. Not part of the tests.
#
#   bench/inventory-scale.sh RTMIG [N=5000] [R=3]
#
# When the benchmark's venv holds ansible-core (scripts/bench.sh installs it), `ansible-inventory
# --list` on the same files is timed beside it, for reference.
# The inventory goes to ${BENCH_CACHE:-/var/cache/rtmig-bench}/inventory-N/ and stays there.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rtmig=${1:?usage: bench/inventory-scale.sh RTMIG [N] [RUNS]}
n=${2:-5000}
runs=${3:-3}
out=${BENCH_CACHE:-/var/cache/rtmig-bench}/inventory-$n
[ -x /usr/bin/time ] || { echo "inventory-scale: GNU time is missing (apt-get install time)" >&2; exit 1; }

inv=$(/usr/bin/python3 "$BENCH/gen-inventory.py" "$out" --hosts "$n")
echo "inventory: $inv ($(find "$out/host_vars" -type f | wc -l) host_vars files, $(find "$out/group_vars" -type f | wc -l) group_vars files)"
echo "rtmig: $("$rtmig" --version)  load average: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)"
echo
echo "| command | median s | min s | max s | max RSS MiB | output |"
echo "|---|---|---|---|---|---|"

measure() { # LABEL CMD...
    local label=$1 i walls=() rss=0 r t f=$out/time.txt o=$out/out.txt
    shift
    for ((i = 0; i < runs; i++)); do
        /usr/bin/time -v -o "$f" "$@" >"$o" 2>&1 || { echo "inventory-scale: \`$*\` failed:" >&2; tail -5 "$o" >&2; exit 1; }
        t=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (k = 1; k <= n; k++) s = s * 60 + p[k]; print s }' "$f")
        r=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$f")
        walls+=("$t")
        [ "$r" -gt "$rss" ] && rss=$r
    done
    printf '%s\n' "${walls[@]}" | sort -g | awk -v label="$label" -v rss="$rss" -v bytes="$(wc -c <"$o")" '
        { w[NR] = $1 } END { printf "| %s | %.2f | %.2f | %.2f | %.1f | %d KiB |\n", label, w[int((NR + 1) / 2)], w[1], w[NR], rss / 1024, bytes / 1024 }'
}

measure "\`rtmig inventory -i … --list\`" "$rtmig" inventory -i "$inv" --list
measure "\`rtmig inventory -i … --graph\`" "$rtmig" inventory -i "$inv" --graph
measure "\`rtmig plan -i … w1-steps.yaml\`" "$rtmig" plan -i "$inv" "$BENCH/workloads/w1-steps.yaml"
measure "\`rtmig plan -i … w2-template.yaml\`" "$rtmig" plan -i "$inv" "$BENCH/workloads/w2-template.yaml"
ai=${BENCH_VENV:-${BENCH_CACHE:-/var/cache/rtmig-bench}/venv}/bin/ansible-inventory
if [ -x "$ai" ]; then
    PYTHONWARNINGS=ignore measure "\`ansible-inventory -i … --list\` (ansible-core $("$ai" --version 2>/dev/null | sed -n '1s/.*core \([0-9.]*\).*/\1/p'))" "$ai" -i "$inv" --list
fi
