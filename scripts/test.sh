#!/usr/bin/env bash
# rtmig's one test command, as the README gives it and CI runs it.
#
# On a fresh Debian 12 machine (as root) it first installs what the tests need —
# OpenSSH, containerd, docker.io, busybox-static, iproute2, sudo — then runs every test:
# the Rust unit and integration tests (real sshd over real TCP) and the lab's tests
# (a rehearsal cluster of network-namespace hosts with real dockerd and containerd).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: the tests start sshd, dockerd and containerd in network namespaces; run as root" >&2
    exit 1
fi

# etcd-server/etcd-client and docker-registry: the lab's real etcd members and registry.
packages=(openssh-server openssh-client containerd docker.io busybox-static iproute2 sudo python3 jq time
    etcd-server etcd-client docker-registry)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing: ${missing[*]}"
    apt-get update -qq
    # policy-rc.d (exit 101) keeps the packages from starting their daemons on the machine itself.
    prc=/usr/sbin/policy-rc.d made=0
    if [ ! -e $prc ]; then printf '#!/bin/sh\nexit 101\n' >$prc; chmod +x $prc; made=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ $made -eq 0 ] || rm -f $prc
fi

echo "==> cargo test"
cargo test --locked --all-targets

if [ -x lab/tests/run.sh ]; then
    echo "==> lab tests"
    lab/tests/run.sh
fi
