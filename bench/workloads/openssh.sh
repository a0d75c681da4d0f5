#!/usr/bin/env bash
# bench/workloads/openssh.sh: the OpenSSH baseline for W1 and W2, driven from a shell, as an
# operator without an orchestrator would: every host in parallel, one ControlMaster
# connection per host, one `ssh` process per command.
#
#   openssh.sh w1 HOSTS_TSV SSH_CONFIG CONTROL_DIR N    ten `/bin/true` per host
#   openssh.sh w2 HOSTS_TSV SSH_CONFIG CONTROL_DIR N    render app.conf, upload it (0644), sha256sum it
#
# HOSTS_TSV is the fleet's hosts.tsv (bench/fleet.sh); the first N hosts take part.
# Exits 0 when every command on every host succeeded, 2 otherwise.
set -uo pipefail

mode=$1 tsv=$2 cfg=$3 ctl=$4 n=$5
mkdir -p "$ctl"

# The same bytes as templates/app.conf.j2 renders (bench/run.py checks every tool's output).
render() { # NAME ADDRESS PORT ZONE ID
    local h=$1 ip=$2 port=$3 zone=$4 id=$5 i
    printf '# %s: written by the rtmig benchmark (W2). Do not edit.\n[server]\nname = %s\nlisten = %s:%s\nzone = %s\nid = %s\n\n[upstreams]\n' \
        "$h" "$h" "$ip" "$port" "$zone" "$id"
    for ((i = 0; i < 78; i++)); do
        printf 'worker%d = %s-w%d.%s.bench.internal:%d\n' "$i" "$h" "$i" "$zone" $((port + i))
    done
}

one_host() { # NAME ADDRESS PORT ZONE ID
    # ConnectTimeout: as every tool's (bench/run.py CONNECT_TIMEOUT_S)
    local h=$1 o=(-F "$cfg" -o "ControlPath=$ctl/%C" -o ConnectTimeout=120) i
    ssh "${o[@]}" -o ControlMaster=yes -o ControlPersist=yes -f -N "$h" || return 1
    case $mode in
        w1)
            for ((i = 1; i <= 10; i++)); do
                ssh "${o[@]}" "$h" /bin/true || return 1
            done ;;
        w2)
            render "$@" | ssh "${o[@]}" "$h" \
                'cat > /root/.app.conf.tmp && chmod 0644 /root/.app.conf.tmp && mv /root/.app.conf.tmp /root/app.conf' || return 1
            ssh "${o[@]}" "$h" sha256sum /root/app.conf >/dev/null || return 1 ;;
    esac
    ssh "${o[@]}" -O exit "$h" 2>/dev/null
}

# Read the host list first: every ssh below gets its own stdin (/dev/null or the rendered
# file), never the list (ssh forwards its stdin to the remote command and would eat lines).
mapfile -t rows < <(tail -n +2 "$tsv" | head -n "$n")
pids=()
for row in "${rows[@]}"; do
    IFS=$'\t' read -r h ip port zone id <<<"$row"
    one_host "$h" "$ip" "$port" "$zone" "$id" </dev/null &
    pids+=($!)
done

failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
[ "${#pids[@]}" -eq "$n" ] || { echo "openssh.sh: only ${#pids[@]} hosts in $tsv, expected $n" >&2; exit 2; }
[ $failed -eq 0 ] || { echo "openssh.sh: $failed of $n hosts failed" >&2; exit 2; }
