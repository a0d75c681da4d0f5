#!/usr/bin/env bash
# bench/fleet.sh: a fleet of N bare sshd hosts on this machine, for the benchmark.
#
#   bench/fleet.sh up N        bring up hosts bench001..benchN (takes the old fleet down first);
#                              prints the state directory last
#   bench/fleet.sh down        remove everything `up` made (processes, namespaces, bridge, cgroup)
#   bench/fleet.sh status      how many hosts are up and answering on port 22
#   bench/fleet.sh ssh HOST [CMD...]   ssh to a fleet host with the fleet's key and known_hosts
#
# Every host is a network namespace (veth on the bridge $BENCH_BRIDGE, 10.214.0.0/16) plus a
# UTS and a mount namespace in which its own sshd runs: own hostname, own host key, and a
# clean, empty home bind-mounted over /root (the controller's /root/.bashrc runs `pyenv
# init`, which would add ~0.12 s to every remote command). The rest of the file system is
# the controller's, so the hosts have the same /usr/bin/python3 as the controller.
# Unlike the lab (lab/lab.sh) there is no init, Docker or containerd: sshd is all the host runs.
#
# Every sshd (and so every remote command) runs in the cgroup $BENCH_CGROUP/fleet, whose
# cpu.stat gives the host-side CPU of a benchmark run.
#
# Files, under $BENCH_STATE (default /var/cache/rtmig-bench/fleet):
#   inventory.yaml        Ansible YAML inventory of all hosts (rtmig and ansible-core read it)
#   inventory-N.yaml      the same for the first N hosts (written by bench/run.py)
#   hosts.tsv             name, address, per-host variables: one host per line
#   ssh/id_ed25519        the client key;  ssh/known_hosts: every host's key, by address
#   ssh/config            an OpenSSH client config naming every host (for ssh -F)
#   hosts/NAME/           sshd_config, host key, home/ (the host's /root), sshd.log
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${BENCH_STATE:-/var/cache/rtmig-bench/fleet}
BRIDGE=${BENCH_BRIDGE:-rtmigbench0}
NETNS_PREFIX=rtmigbench-
VETH_PREFIX=rtmb
GW=10.214.0.1
PREFIXLEN=16
MAX_HOSTS=1000

die() { echo "fleet: $*" >&2; exit 1; }
say() { echo "fleet: $*" >&2; }

need_root() {
    [ "$(id -u)" -eq 0 ] || die "the fleet creates network namespaces, mounts and daemons: run it as root"
}

# The cgroup v2 hierarchy (pure v2 at /sys/fs/cgroup or the hybrid layout's unified/).
cgroup_root() {
    awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts
}
CG_ROOT=$(cgroup_root || true)
CGROUP=${BENCH_CGROUP:-${CG_ROOT:+$CG_ROOT/rtmig-bench}}

host_name() { printf 'bench%03d' "$1"; }
host_ip() { echo "10.214.$((($1 - 1) / 250)).$((($1 - 1) % 250 + 2))"; }

# ---- up ---------------------------------------------------------------------------------
cmd_up() {
    local n=${1:-}
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le $MAX_HOSTS ] ||
        die "up: expected a host count from 1 to $MAX_HOSTS, got \`${n}\`"
    need_root
    for tool in ip nsenter unshare ssh-keygen /usr/sbin/sshd; do
        command -v "$tool" >/dev/null || die "up: \`$tool\` is missing (apt-get install iproute2 util-linux openssh-server openssh-client)"
    done
    case "$(realpath -m "$STATE")/" in
        /root/*) die "the state dir \`$STATE\` lies under /root, which every fleet host replaces; set BENCH_STATE elsewhere" ;;
    esac
    if [ -d "$STATE" ] || ip link show "$BRIDGE" >/dev/null 2>&1; then
        say "a previous fleet is still set up; taking it down first"
        cmd_down
    fi
    local t0 t1
    t0=$(date +%s%N)
    mkdir -p "$STATE"/{ssh,hosts,pids}
    echo "$n" >"$STATE/size"

    # The neighbour table of the bridge must hold every host (the default gc_thresh1 of 128
    # starts evicting entries past 128 hosts). Remember the old values to restore them.
    local k old
    for k in 1 2 3; do
        old=$(sysctl -n "net.ipv4.neigh.default.gc_thresh$k")
        echo "$old" >"$STATE/gc_thresh$k.orig"
    done
    local need=$((n * 4 + 1024))
    if [ "$(cat "$STATE/gc_thresh3.orig")" -lt "$need" ]; then
        sysctl -q -w net.ipv4.neigh.default.gc_thresh1=$((need / 4)) \
            net.ipv4.neigh.default.gc_thresh2=$((need / 2)) net.ipv4.neigh.default.gc_thresh3=$need
    fi

    # keys: one client key, one host key per host
    ssh-keygen -q -t ed25519 -N '' -C rtmig-bench-client -f "$STATE/ssh/id_ed25519"
    : >"$STATE/ssh/known_hosts"
    printf '# OpenSSH client config for the benchmark fleet (ssh -F this-file HOST)\n' >"$STATE/ssh/config"
    printf 'name\taddress\tapp_port\tapp_zone\tapp_id\n' >"$STATE/hosts.tsv"
    local i h ip d zones=(zone-a zone-b zone-c)
    for ((i = 1; i <= n; i++)); do
        h=$(host_name "$i"); ip=$(host_ip "$i"); d=$STATE/hosts/$h
        mkdir -p "$d/home/.ssh"
        chmod 700 "$d/home" "$d/home/.ssh"
        cp "$STATE/ssh/id_ed25519.pub" "$d/home/.ssh/authorized_keys"
        chmod 600 "$d/home/.ssh/authorized_keys"
        ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$d/ssh_host_ed25519_key"
        echo "$ip $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >>"$STATE/ssh/known_hosts"
        write_sshd_config "$d" >"$d/sshd_config"
        printf 'Host %s\n  HostName %s\n' "$h" "$ip" >>"$STATE/ssh/config"
        printf '%s\t%s\t%d\t%s\t%d\n' "$h" "$ip" $((8000 + i)) "${zones[$((i % 3))]}" "$i" >>"$STATE/hosts.tsv"
    done
    cat >>"$STATE/ssh/config" <<EOF
Host bench*
  User root
  IdentityFile $STATE/ssh/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $STATE/ssh/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
EOF
    write_inventory >"$STATE/inventory.yaml"

    # network: one bridge, one namespace and veth pair per host, in two `ip -batch` calls
    ip link add "$BRIDGE" type bridge
    ip addr add "$GW/$PREFIXLEN" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    local batch=$STATE/ip.batch
    : >"$batch"
    for ((i = 1; i <= n; i++)); do
        h=$(host_name "$i")
        echo "netns add $NETNS_PREFIX$h" >>"$batch"
    done
    ip -batch "$batch"
    : >"$batch"
    for ((i = 1; i <= n; i++)); do
        h=$(host_name "$i")
        echo "link add $VETH_PREFIX$i type veth peer name eth0 netns $NETNS_PREFIX$h" >>"$batch"
        echo "link set $VETH_PREFIX$i master $BRIDGE up" >>"$batch"
    done
    ip -batch "$batch"
    for ((i = 1; i <= n; i++)); do
        h=$(host_name "$i"); ip=$(host_ip "$i")
        printf 'link set lo up\naddr add %s/%s dev eth0\nlink set eth0 up\nroute add default via %s\n' \
            "$ip" "$PREFIXLEN" "$GW" | ip -n "$NETNS_PREFIX$h" -batch -
    done
    rm -f "$batch"

    # the fleet's cgroup: host-side CPU is read from its cpu.stat
    if [ -n "$CGROUP" ]; then
        mkdir -p "$CGROUP/fleet" || die "cannot create the cgroup \`$CGROUP/fleet\`"
    fi

    # one sshd per host, in its own UTS and mount namespace, with its own /root
    mkdir -p /run/sshd
    chmod 755 /run/sshd
    for ((i = 1; i <= n; i++)); do
        h=$(host_name "$i"); d=$STATE/hosts/$h
        # setsid, nsenter and unshare all exec: $! ends up being sshd's own pid.
        setsid nsenter --net="/run/netns/$NETNS_PREFIX$h" \
            unshare --uts --mount --propagation private -- \
            /bin/sh -c '[ -z "$3" ] || echo $$ >"$3/cgroup.procs" || exit 1
                hostname "$1" && mount --bind "$2/home" /root && exec /usr/sbin/sshd -D -e -f "$2/sshd_config"' \
            sh "$h" "$d" "${CGROUP:+$CGROUP/fleet}" </dev/null >"$d/sshd.log" 2>&1 &
        echo $! >"$STATE/pids/$h"
    done
    local deadline=$((SECONDS + 60)) up=0
    while [ $SECONDS -lt $deadline ]; do
        up=$(count_up "$n")
        [ "$up" -eq "$n" ] && break
        sleep 0.2
    done
    [ "$up" -eq "$n" ] || die "up: only $up of $n hosts answer on port 22 after 60 s (see $STATE/hosts/*/sshd.log)"
    # one real login, to check keys, known_hosts and the clean home end to end
    local out
    out=$(ssh -F "$STATE/ssh/config" "$(host_name 1)" 'echo "$(hostname) $HOME"; ls -A') ||
        die "up: ssh to $(host_name 1) failed"
    [ "$out" = "$(host_name 1) /root
.ssh" ] || die "up: $(host_name 1) should report its own hostname and a clean /root, got: $out"
    t1=$(date +%s%N)
    say "$n hosts up in $(( (t1 - t0) / 1000000 )) ms on $BRIDGE ($GW/$PREFIXLEN); inventory: $STATE/inventory.yaml"
    echo "$STATE"
}

count_up() { # how many of the first $1 hosts accept a TCP connection on port 22
    local n=$1 i c=0
    for ((i = 1; i <= n; i++)); do
        if timeout 1 bash -c ": </dev/tcp/$(host_ip "$i")/22" 2>/dev/null; then c=$((c + 1)); fi
    done
    echo $c
}

write_sshd_config() {
    local d=$1
    cat <<EOF
# rtmig benchmark host: key authentication for root, nothing else.
ListenAddress 0.0.0.0:22
HostKey $d/ssh_host_ed25519_key
PidFile none
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
# No PAM session modules (motd scripts, limits, env files) and no reverse DNS: a bare host,
# so what the benchmark measures on the host side is sshd and the command itself.
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel ERROR
EOF
}

write_inventory() {
    cat <<EOF
# The benchmark fleet: an Ansible YAML inventory, read unchanged by rtmig and ansible-core.
all:
  vars:
    ansible_user: root
    ansible_ssh_private_key_file: $STATE/ssh/id_ed25519
    ansible_ssh_common_args: '-o UserKnownHostsFile=$STATE/ssh/known_hosts -o StrictHostKeyChecking=yes'
    ansible_python_interpreter: /usr/bin/python3
  children:
    bench:
      hosts:
EOF
    tail -n +2 "$STATE/hosts.tsv" | while IFS=$'\t' read -r h ip port zone id; do
        printf '        %s: {ansible_host: %s, app_port: %s, app_zone: %s, app_id: %s}\n' \
            "$h" "$ip" "$port" "$zone" "$id"
    done
}

# ---- down -------------------------------------------------------------------------------
cmd_down() {
    need_root
    local f pid
    # every sshd and every session it started
    if [ -n "$CGROUP" ] && [ -d "$CGROUP" ]; then
        kill_cgroup_tree "$CGROUP"
    fi
    if [ -d "$STATE/pids" ]; then
        for f in "$STATE"/pids/*; do
            [ -f "$f" ] || continue
            pid=$(cat "$f")
            kill "$pid" 2>/dev/null || true
        done
    fi
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NETNS_PREFIX" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
    local k
    for k in 1 2 3; do
        if [ -f "$STATE/gc_thresh$k.orig" ]; then
            sysctl -q -w "net.ipv4.neigh.default.gc_thresh$k=$(cat "$STATE/gc_thresh$k.orig")" || true
        fi
    done
    if [ -n "$CGROUP" ] && [ -d "$CGROUP" ]; then
        remove_cgroup_tree "$CGROUP"
    fi
    case "$STATE" in
        */fleet) rm -rf "$STATE" ;;
        *) rm -rf "$STATE/hosts" "$STATE/ssh" "$STATE/pids" "$STATE"/*.yaml "$STATE/hosts.tsv" "$STATE"/gc_thresh*.orig "$STATE/size" "$STATE/.rtmig" ;;
    esac
    say "down"
}

kill_cgroup_tree() { # kill every process in a cgroup and its children, and wait for them
    local cg=$1 i
    if [ -f "$cg/cgroup.kill" ]; then
        echo 1 >"$cg/cgroup.kill" 2>/dev/null || true
    else
        find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    fi
    for ((i = 0; i < 50; i++)); do
        [ -z "$(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    say "some processes in $cg did not exit"
}

remove_cgroup_tree() {
    find "$1" -depth -type d -exec rmdir {} \; 2>/dev/null || true
}

# ---- status, ssh ------------------------------------------------------------------------
cmd_status() {
    [ -f "$STATE/size" ] || { echo "fleet: down"; return 0; }
    local n
    n=$(cat "$STATE/size")
    echo "fleet: $n hosts in $STATE, $(count_up "$n") answering on port 22"
}

cmd_ssh() {
    [ -f "$STATE/ssh/config" ] || die "the fleet is down"
    exec ssh -F "$STATE/ssh/config" "$@"
}

case ${1:-} in
    up) shift; cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    ssh) shift; cmd_ssh "$@" ;;
    *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 1 ;;
esac
