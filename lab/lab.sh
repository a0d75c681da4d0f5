#!/usr/bin/env bash
# lab/lab.sh: a rehearsal Kubernetes cluster of real SSH hosts on one machine.
#
#   lab/lab.sh up [--spec FILE]        build the cluster a spec describes (default: specs/default.json);
#                                      prints the inventory path last
#   lab/lab.sh down [--default-names]  remove everything `up` made (a state dir without lab.env
#                                      other than the default one guesses no names unless told)
#   lab/lab.sh status                  hosts, daemons and nodes at a glance
#   lab/lab.sh kubectl ARGS...         the controller's kubectl, with the lab's kubeconfig
#   lab/lab.sh exec HOST [CMD...]      run CMD on HOST without SSH (nsenter into its namespaces)
#   lab/lab.sh ssh HOST [CMD...]       ssh to HOST with the lab's key and known_hosts
#   lab/lab.sh fault HOST cut|heal|kill-sshd
#   lab/lab.sh restart-api             restart the API server simulator (it keeps its state)
#   lab/lab.sh upgrade-kubelet HOST VERSION [--kubeadm]
#                                      replace HOST's kubelet by VERSION and restart it; --kubeadm
#                                      first rewrites kubeadm-flags.env as `kubeadm upgrade node` does
#   lab/lab.sh inventory               print the inventory path
#
# Every host is a network + UTS + mount + PID namespace whose PID 1 is sim/init.py (a small
# systemd); its sshd, containerd, dockerd and kubelet simulator are real processes in it.
# The API server simulator runs on the controller, on the bridge address. State lives in
# $LAB_STATE (default: lab/state, or /srv/rtmig-lab/state for a checkout under /tmp, /root,
# /var, ...). See lab/README.md.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Every lab host replaces these directories with its own, so the state cannot live under
# them. A checkout there (a CI clone in /tmp, say) keeps its state in /srv/rtmig-lab.
replaced_by_hosts() {
    case "$(realpath -m "$1")/" in
        /etc/*|/usr/*|/var/*|/opt/*|/run/*|/tmp/*|/root/*) return 0 ;;
        *) return 1 ;;
    esac
}
default_state() { # the state dir lab.sh uses when LAB_STATE is not set
    if replaced_by_hosts "$LAB_DIR/state"; then echo /srv/rtmig-lab/state; else echo "$LAB_DIR/state"; fi
}
STATE=${LAB_STATE:-$(default_state)}
PY=/usr/bin/python3
SIM=$LAB_DIR/sim

die() { echo "lab: $*" >&2; exit 1; }
say() { echo "lab: $*" >&2; }

need_root() {
    [ "$(id -u)" -eq 0 ] || die "the lab creates network namespaces, mounts and daemons: run it as root (e.g. sudo $0 $*)"
}

load_env() {
    # Defaults that match specs/default.json, so `down` cleans up even without a state dir.
    LAB_BRIDGE=rtmiglab0 LAB_NETNS_PREFIX=rtmiglab- LAB_VETH_PREFIX=rtmlab LAB_HOSTS="" LAB_GW=10.213.0.1
    if [ -n "${LAB_NET_ID:-}" ]; then # sim/render.py's default_network() for LAB_NET_ID=N
        LAB_BRIDGE=rtmiglab$LAB_NET_ID LAB_NETNS_PREFIX=rtmlab$LAB_NET_ID- LAB_VETH_PREFIX=rtml${LAB_NET_ID}v
        LAB_GW=10.$((230 + LAB_NET_ID)).0.1
    fi
    LAB_API_PORT=6443 LAB_PREFIXLEN=24 LAB_IPTABLES=0
    if [ -f "$STATE/lab.env" ]; then
        # shellcheck disable=SC1091
        . "$STATE/lab.env"
    fi
}

host_var() { local v="LAB_$1_${2//-/_}"; echo "${!v:-}"; }

init_pid() {
    local f="$STATE/pids/$1.init" pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    [ -d "/proc/$pid" ] || return 1
    echo "$pid"
}

host_exec() { # host_exec HOST CMD...  (no tty juggling; stdin passes through)
    local h=$1 pid
    shift
    pid=$(init_pid "$h") || die "host \`$h\` is not running (no init process); is the lab up?"
    nsenter -t "$pid" -n -u -m -p --wd=/root -- /usr/bin/env -i HOME=/root USER=root LOGNAME=root \
        SHELL=/bin/bash LANG=C.UTF-8 TERM="${TERM:-dumb}" \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# ---- dependencies -----------------------------------------------------------------------
install_deps() {
    local missing=()
    command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    command -v ssh-keygen >/dev/null || missing+=(openssh-client)
    [ -x /usr/bin/containerd ] && [ -x /usr/bin/ctr ] || missing+=(containerd)
    [ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ] || missing+=(docker.io)
    [ -x /bin/busybox ] || missing+=(busybox-static)
    command -v ip >/dev/null || missing+=(iproute2)
    [ -x "$PY" ] || missing+=(python3)
    command -v nsenter >/dev/null || missing+=(util-linux)
    command -v kubectl >/dev/null || missing+=(kubernetes-client)
    [ -x /usr/bin/etcd ] || missing+=(etcd-server)
    [ -x /usr/bin/etcdctl ] || missing+=(etcd-client)
    [ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing: ${missing[*]}"
        apt-get update -qq
        # policy-rc.d 101: the packages must not start their daemons on the machine itself.
        local prc=/usr/sbin/policy-rc.d made=0
        if [ ! -e $prc ]; then printf '#!/bin/sh\nexit 101\n' >$prc; chmod +x $prc; made=1; fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        [ $made -eq 1 ] && rm -f $prc
    fi
    # the images' root file system is this one binary: it must not need a dynamic loader
    if ldd /bin/busybox >/dev/null 2>&1; then
        die "/bin/busybox is dynamically linked; the lab needs busybox-static (apt-get install busybox-static)"
    fi
}

check_state_path() {
    local real
    real=$(realpath -m "$STATE")
    case "$real/" in
        /etc/*|/usr/*|/var/*|/opt/*|/run/*|/tmp/*|/root/*)
            die "the state dir \`$real\` lies under a directory every lab host replaces (/etc /usr /var /opt /run /tmp /root); set LAB_STATE elsewhere" ;;
    esac
}

# ---- up ---------------------------------------------------------------------------------
cmd_up() {
    local spec=$LAB_DIR/specs/default.json
    while [ $# -gt 0 ]; do
        case $1 in
            --spec) spec=${2:?--spec needs a file}; shift 2 ;;
            --spec=*) spec=${1#--spec=}; shift ;;
            *) die "up: unknown argument \`$1\` (expected --spec FILE)" ;;
        esac
    done
    [ -f "$spec" ] || die "up: spec file \`$spec\` not found"
    need_root up
    check_state_path
    local t0 t1
    t0=$(date +%s%N)
    install_deps
    load_env
    # Only this state dir's own lab is taken down: without its lab.env the network names
    # are guesses (the defaults), which may be another lab's (a test lab beside a
    # developer's, say), and that lab must survive.
    if [ -f "$STATE/lab.env" ]; then
        say "a previous lab is still set up; taking it down first"
        cmd_down >/dev/null
    elif [ -e "$STATE" ]; then
        { findmnt -rn -o TARGET | grep "^$(realpath "$STATE")" || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
        rm -rf --one-file-system "$STATE"
    fi
    mkdir -p "$STATE"
    # The state lives in memory: it is small, quick to write, and gone at once at `down`
    # (deleting files on this machine's disk, mounted with `discard`, takes seconds).
    mount -t tmpfs -o mode=0755,size=4g rtmig-lab "$STATE"
    $PY "$SIM/render.py" "$spec" "$STATE" || { umount "$STATE"; rmdir "$STATE"; exit 1; }
    cp "$spec" "$STATE/spec.source.json"
    load_env
    # a new spec may name another bridge: make sure that one is free too
    if ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then
        die "bridge \`$LAB_BRIDGE\` already exists and is not this lab's; remove it or pick another network.bridge"
    fi

    # network: a bridge on the controller, one namespace and veth per host
    ip link add "$LAB_BRIDGE" type bridge
    ip addr add "$LAB_GW/$LAB_PREFIXLEN" dev "$LAB_BRIDGE"
    ip link set "$LAB_BRIDGE" up
    # With br_netfilter, bridged packets cross the FORWARD chain: when the machine's policy
    # is not ACCEPT (a Docker on the machine sets DROP), let the lab's bridge through.
    if [ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)" = 1 ] &&
        command -v iptables >/dev/null && ! iptables -S FORWARD 2>/dev/null | grep -qx -- '-P FORWARD ACCEPT'; then
        iptables -I FORWARD -i "$LAB_BRIDGE" -o "$LAB_BRIDGE" -j ACCEPT && echo "LAB_IPTABLES=1" >>"$STATE/lab.env"
    fi
    local h idx ip ns veth
    for h in $LAB_HOSTS; do
        idx=$(host_var INDEX "$h"); ip=$(host_var IP "$h")
        ns="$LAB_NETNS_PREFIX$h"; veth="$LAB_VETH_PREFIX$idx"
        ip netns add "$ns"
        ip link add "$veth" type veth peer name "${veth}p"
        ip link set "${veth}p" netns "$ns"
        ip link set "$veth" master "$LAB_BRIDGE" up
        ip -n "$ns" link set lo up
        ip -n "$ns" link set "${veth}p" name eth0
        ip -n "$ns" addr add "$ip/$LAB_PREFIXLEN" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" route add default via "$LAB_GW"
    done

    # the API server simulator, on the bridge address
    start_apiserver

    # boot every host: PID 1 is init.py, which mounts the host's file system and starts its units
    for h in $LAB_HOSTS; do
        ns="$LAB_NETNS_PREFIX$h"
        setsid nsenter --net="/run/netns/$ns" \
            unshare --uts --mount --pid --fork --kill-child --mount-proc --propagation private \
            "$PY" "$STATE/hosts/$h/usr/lib/rtmig-lab/init.py" "$STATE/hosts/$h/host.json" \
            </dev/null >"$STATE/hosts/$h/init.log" 2>&1 &
        echo $! >"$STATE/pids/$h.unshare"
    done
    for h in $LAB_HOSTS; do wait_init "$h"; done
    for h in $LAB_HOSTS; do
        wait_for 60 "sshd on $h" host_tcp "$(host_var IP "$h")" 22
    done

    # Docker's starting images, loaded into each host's own Docker store
    local pids=()
    for h in $LAB_HOSTS; do
        ( wait_for 60 "docker on $h" host_exec "$h" /usr/bin/docker version --format '{{.Server.Version}}' >/dev/null &&
          host_exec "$h" /usr/bin/docker load -i "$STATE/images/$h.tar" >"$STATE/hosts/$h/docker-load.log" 2>&1 &&
          rm -f "$STATE/images/$h.tar" ) &
        pids+=($!)
    done
    local failed=0 p
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    [ $failed -eq 0 ] || die "up: loading Docker's starting images failed (see $STATE/hosts/*/docker-load.log)"

    [ -z "${LAB_REGISTRY_HOST:-}" ] || registry_up
    wait_for 120 "every node Ready and every pod settled" api_settled
    t1=$(date +%s%N)
    printf 'lab: up in %d.%d s: %s\n' $(( (t1 - t0) / 1000000000 )) $(( (t1 - t0) / 100000000 % 10 )) \
        "$(echo $LAB_HOSTS | wc -w) hosts on $LAB_BRIDGE ($LAB_GW/$LAB_PREFIXLEN), API http://$LAB_GW:$LAB_API_PORT" >&2
    say "ssh:     ssh -F $STATE/ssh/config HOST    kubectl: $0 kubectl get nodes -o wide"
    echo "$STATE/inventory.yaml"
}

# The lab's registry (spec `registry`): the registry node's kubelet runs the real
# docker-registry while the registry pod runs; its images are pushed from there, pulled by
# every node (so Docker records their RepoDigests), then the workloads that pin them by
# digest are created with the digests the registry gave.
registry_up() {
    local reg=$LAB_REGISTRY_NODE ip r h pids=() failed=0 p
    ip=$(host_var IP "$reg")
    wait_for 60 "the registry on $reg ($LAB_REGISTRY_HOST)" host_tcp "$ip" "$LAB_REGISTRY_PORT" ||
        die "up: the registry did not start on $reg: is a pod annotated lab.rtmig.io/host-process: registry, with the command /usr/bin/docker-registry serve /etc/docker/registry/config.yml, scheduled there? (see $STATE/hosts/$reg/var/log/lab-journal/kubelet.log)"
    : >"$STATE/registry/digests.txt"
    while read -r r; do
        host_exec "$reg" docker push "$r" >>"$STATE/registry/push.log" 2>&1 ||
            die "up: docker push $r failed on $reg (see $STATE/registry/push.log)"
        # shellcheck disable=SC2016
        echo "$r $(host_exec "$reg" docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$r" |
            grep -m1 "^${r%:*}@" | cut -d@ -f2)" >>"$STATE/registry/digests.txt"
    done <"$STATE/registry/push.txt"
    while read -r h r; do
        [ "$h" = "$reg" ] && continue
        host_exec "$h" docker pull -q "$r" >>"$STATE/registry/pull-$h.log" 2>&1 &
        pids+=($!)
    done <"$STATE/registry/pull.txt"
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    [ $failed -eq 0 ] || die "up: pulling through the registry failed (see $STATE/registry/pull-*.log)"
    $PY "$SIM/render.py" --create-deferred "$STATE" >>"$STATE/registry/push.log" ||
        die "up: creating the workloads pinned by digest failed"
}

start_apiserver() {
    [ -f "$SIM/apiserver.py" ] || return 0
    setsid "$PY" "$SIM/apiserver.py" --config "$STATE/api/config.json" --state "$STATE/api/state.json" \
        --bootstrap "$STATE/api/bootstrap.json" --log "$STATE/api/requests.log" \
        </dev/null >"$STATE/api/apiserver.log" 2>&1 &
    echo $! >"$STATE/pids/apiserver"
    wait_for 20 "the API server" api_ok
}

api_ok() { $PY - "$LAB_GW" "$LAB_API_PORT" <<'EOF'
import sys, urllib.request
urllib.request.urlopen(f"http://{sys.argv[1]}:{sys.argv[2]}/livez", timeout=2).read()
EOF
}

api_settled() {
    [ -f "$SIM/apiserver.py" ] || return 0
    $PY - "$LAB_GW" "$LAB_API_PORT" <<'EOF'
import json, sys, urllib.request
base = f"http://{sys.argv[1]}:{sys.argv[2]}"
get = lambda p: json.load(urllib.request.urlopen(base + p, timeout=3))
for n in get("/api/v1/nodes")["items"]:
    ready = [c for c in n["status"].get("conditions", []) if c["type"] == "Ready"]
    if not ready or ready[0]["status"] != "True":
        sys.exit(1)
for p in get("/api/v1/pods")["items"]:
    if p["status"].get("phase") != "Running":
        sys.exit(1)
EOF
}

host_tcp() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

wait_init() {
    local h=$1 upid i
    upid=$(cat "$STATE/pids/$h.unshare")
    for i in $(seq 1 100); do
        local child
        child=$(cat "/proc/$upid/task/$upid/children" 2>/dev/null | awk '{print $1}')
        if [ -n "$child" ] && [ -f "$STATE/hosts/$h/run/lab-init.ready" ]; then
            echo "$child" >"$STATE/pids/$h.init"
            return 0
        fi
        [ -d "/proc/$upid" ] || break
        sleep 0.1
    done
    cat "$STATE/hosts/$h/init.log" >&2 || true
    die "up: host \`$h\` did not boot (see $STATE/hosts/$h/init.log)"
}

wait_for() { # wait_for SECONDS WHAT CMD...
    local limit=$1 what=$2 end
    shift 2
    end=$(( $(date +%s) + limit ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || { say "timed out after ${limit}s waiting for $what"; return 1; }
        sleep 0.3
    done
}

# ---- down -------------------------------------------------------------------------------
is_ours() { # is_ours PID PATTERN: the pid is alive and its command line matches
    [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "$2"
}

cmd_down() {
    need_root down
    local guess=0
    case "${1:-}" in
        --default-names) guess=1; shift ;;
        "") ;;
        *) die "down: unknown argument \`$1\` (expected nothing, or --default-names)" ;;
    esac
    load_env
    # Without its lab.env, a state dir says nothing of its lab's names: the defaults are
    # only a guess, right for the default state dir (or LAB_NET_ID=N) and wrong for any
    # other, whose guess could be another lab's — that lab must survive.
    if [ ! -f "$STATE/lab.env" ] && [ -z "${LAB_NET_ID:-}" ] && [ $guess -eq 0 ] &&
        [ "$(realpath -m "$STATE")" != "$(realpath -m "$(default_state)")" ]; then
        if ip link show "$LAB_BRIDGE" >/dev/null 2>&1 || ls /run/netns 2>/dev/null | grep -q "^$LAB_NETNS_PREFIX"; then
            die "down: $STATE has no lab.env, so the names of its lab are unknown; the default names (bridge $LAB_BRIDGE, namespaces $LAB_NETNS_PREFIX*) are in use, maybe by another lab, and are left alone. To remove that lab: \`lab.sh down --default-names\` (or LAB_NET_ID=N for a numbered one)"
        fi
        if [ -d "$STATE" ]; then
            { findmnt -rn -o TARGET | grep "^$(realpath "$STATE")" || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
            rm -rf --one-file-system "$STATE"
        fi
        say "down: no lab in $STATE (no lab.env); nothing else touched"
        return 0
    fi
    local f pid h ns
    if [ -f "$STATE/pids/apiserver" ]; then
        pid=$(cat "$STATE/pids/apiserver")
        is_ours "$pid" apiserver.py && kill "$pid" 2>/dev/null || true
    fi
    # killing a host's PID 1 ends every process of that host (its PID namespace goes away)
    for f in "$STATE"/pids/*.init "$STATE"/pids/*.unshare; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        is_ours "$pid" "init.py" && kill -KILL "$pid" 2>/dev/null || true
    done
    # anything else still inside one of our network namespaces (a leaked exec, say)
    for ns in $(ls /run/netns 2>/dev/null | grep "^$LAB_NETNS_PREFIX" || true); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    done
    for i in $(seq 1 50); do
        local alive=0
        for ns in $(ls /run/netns 2>/dev/null | grep "^$LAB_NETNS_PREFIX" || true); do
            [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && alive=1
        done
        [ -f "$STATE/pids/apiserver" ] && is_ours "$(cat "$STATE/pids/apiserver")" apiserver.py && alive=1
        [ $alive -eq 0 ] && break
        sleep 0.1
    done
    for ns in $(ls /run/netns 2>/dev/null | grep "^$LAB_NETNS_PREFIX" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    if [ "${LAB_IPTABLES:-0}" = 1 ]; then
        iptables -D FORWARD -i "$LAB_BRIDGE" -o "$LAB_BRIDGE" -j ACCEPT 2>/dev/null || true
    fi
    # A veth whose peer lived in a deleted namespace goes away asynchronously: delete the
    # root-side ends ourselves and wait (bounded) so `down` returns with nothing left.
    local v
    for i in $(seq 1 50); do
        v=$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$LAB_VETH_PREFIX[0-9]" || true)
        [ -z "$v" ] && break
        for link in $v; do ip link del "$link" 2>/dev/null || true; done
        sleep 0.1
    done
    ip link del "$LAB_BRIDGE" 2>/dev/null || true
    if [ -d "$STATE" ]; then
        local real
        real=$(realpath "$STATE")
        { findmnt -rn -o TARGET | grep "^$real" || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
        rm -rf --one-file-system "$STATE"
    fi
    say "down: removed the lab (namespaces, bridge $LAB_BRIDGE, processes, $STATE)"
}

# ---- status, kubectl, exec, ssh, fault -----------------------------------------------------
cmd_status() {
    need_root status
    load_env
    [ -f "$STATE/lab.env" ] || { say "no lab is up (no $STATE/lab.env)"; return 3; }
    local h pid ssh units
    printf '%-10s %-14s %-6s %-5s %-10s %-10s %-10s\n' HOST ADDRESS INIT SSH CONTAINERD DOCKER KUBELET
    for h in $LAB_HOSTS; do
        pid=$(init_pid "$h" || echo "-")
        ssh=down; host_tcp "$(host_var IP "$h")" 22 && ssh=up
        if [ "$pid" != "-" ]; then
            units=$(host_exec "$h" systemctl is-active containerd docker kubelet 2>/dev/null | tr '\n' ' ' || true)
        else
            units="- - -"
        fi
        # shellcheck disable=SC2086
        printf '%-10s %-14s %-6s %-5s %-10s %-10s %-10s\n' "$h" "$(host_var IP "$h")" "$pid" "$ssh" $units
    done
    echo
    cmd_kubectl get nodes -o wide || true
}

cmd_kubectl() {
    [ -f "$STATE/kubeconfig" ] || die "no lab is up (no $STATE/kubeconfig)"
    KUBECONFIG=$STATE/kubeconfig exec kubectl "$@"
}

cmd_exec() {
    need_root exec
    load_env
    local h=${1:?exec needs a host}
    shift
    [ $# -gt 0 ] || set -- /bin/bash -l
    host_exec "$h" "$@"
}

cmd_ssh() {
    local h=${1:?ssh needs a host}
    shift
    exec ssh -F "$STATE/ssh/config" "$h" "$@"
}

cmd_fault() {
    need_root fault
    load_env
    local h=${1:?fault needs a host} what=${2:?fault needs cut, heal or kill-sshd} idx
    idx=$(host_var INDEX "$h")
    [ -n "$idx" ] || die "fault: no host \`$h\` in this lab (hosts: $LAB_HOSTS)"
    case $what in
        cut) ip link set "$LAB_VETH_PREFIX$idx" down; say "$h: link down" ;;
        heal)
            ip link set "$LAB_VETH_PREFIX$idx" up
            host_exec "$h" systemctl start ssh.service
            say "$h: link up, sshd running" ;;
        kill-sshd)
            host_exec "$h" systemctl stop ssh.service 2>/dev/null || true
            host_exec "$h" /bin/sh -c 'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = sshd ] && kill -KILL ${p#/proc/} 2>/dev/null; done; true'
            say "$h: sshd killed (every sshd process of the host); \`fault $h heal\` starts it again" ;;
        *) die "fault: unknown fault \`$what\`, expected cut, heal or kill-sshd" ;;
    esac
}

cmd_upgrade_kubelet() {
    need_root upgrade-kubelet
    load_env
    local h="" version="" kubeadm=0 a
    for a in "$@"; do
        case $a in
            --kubeadm) kubeadm=1 ;;
            -*) die "upgrade-kubelet: unknown option \`$a\` (expected --kubeadm)" ;;
            *) if [ -z "$h" ]; then h=$a; elif [ -z "$version" ]; then version=$a;
               else die "upgrade-kubelet: unexpected argument \`$a\` (expected HOST VERSION [--kubeadm])"; fi ;;
        esac
    done
    [ -n "$h" ] && [ -n "$version" ] || die "upgrade-kubelet needs HOST VERSION (e.g. worker0 1.24), optionally --kubeadm"
    [ -n "$(host_var INDEX "$h")" ] || die "upgrade-kubelet: no host \`$h\` in this lab (hosts: $LAB_HOSTS)"
    local full from to old
    full=$($PY - "$SIM" "$version" <<'EOF2'
import sys
sys.path.insert(0, sys.argv[1])
import render
try:
    print(render.parse_version(sys.argv[2])[1])
except render.SpecError as e:
    sys.exit(str(e).replace("`kubernetes.version`", "version"))
EOF2
) || die "upgrade-kubelet: $full"
    old=$(host_exec "$h" cat /usr/lib/rtmig-lab/kubelet-version)
    from=$(echo "$old" | cut -d. -f2) to=$(echo "$full" | cut -d. -f2)
    if [ $kubeadm -eq 1 ]; then
        # `kubeadm upgrade node` of each minor up to the target rewrites kubeadm-flags.env
        # (sim/kubeadm_upgrade.py says what each does); then the package upgrade.
        [ "$to" -ge "$from" ] || die "upgrade-kubelet --kubeadm: kubeadm does not downgrade ($old to $full)"
        # the host's own copy: the repo may be under a path the host does not see (its /tmp is its own)
        host_exec "$h" "$PY" /usr/lib/rtmig-lab/kubeadm_upgrade.py /var/lib/kubelet/kubeadm-flags.env "$from" "$to" >&2
    fi
    host_exec "$h" /bin/sh -c "echo $full > /usr/lib/rtmig-lab/kubelet-version"
    host_exec "$h" systemctl restart kubelet
    say "$h: kubelet $old -> $full$([ $kubeadm -eq 1 ] && echo ' (with kubeadm'"'"'s flag rewrites)'), restarted"
}

cmd_restart_api() {
    need_root restart-api
    load_env
    local pid
    if [ -f "$STATE/pids/apiserver" ]; then
        pid=$(cat "$STATE/pids/apiserver")
        if is_ours "$pid" apiserver.py; then
            kill "$pid"
            while [ -d "/proc/$pid" ]; do sleep 0.1; done
        fi
    fi
    start_apiserver
    say "API server restarted (pid $(cat "$STATE/pids/apiserver")), state kept in $STATE/api/state.json"
}

main() {
    local cmd=${1:-help}
    [ $# -gt 0 ] && shift
    case $cmd in
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        status) cmd_status "$@" ;;
        kubectl) cmd_kubectl "$@" ;;
        exec) cmd_exec "$@" ;;
        ssh) cmd_ssh "$@" ;;
        fault) cmd_fault "$@" ;;
        restart-api) cmd_restart_api "$@" ;;
        upgrade-kubelet) cmd_upgrade_kubelet "$@" ;;
        inventory) [ -f "$STATE/inventory.yaml" ] || die "no lab is up"; echo "$STATE/inventory.yaml" ;;
        state-dir) echo "$STATE" ;;
        help|-h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' ;;
        *) die "unknown command \`$cmd\` (expected up, down, status, kubectl, exec, ssh, fault, restart-api, upgrade-kubelet, inventory, state-dir)" ;;
    esac
}

main "$@"
