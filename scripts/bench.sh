#!/usr/bin/env bash
# scripts/bench.sh: the benchmark: rtmig beside AsyncSSH, parallel-ssh, ansible-core, pyinfra and
# OpenSSH on a fleet of local sshd hosts (see bench/README.md). As root; not part of the tests; asserts nothing.
#
#   scripts/bench.sh              W1 at 10/50/100/200 hosts, W2 at 10/50/100, W3; ~15 minutes
#   scripts/bench.sh --quick      10 hosts, one run each: a try-out (~2 minutes)
#   scripts/bench.sh --help       every option (--full, --runs, --sizes, --workloads, --tools, ...)
#
# It installs what it needs when missing: GNU time (apt), ansible-core, pyinfra, AsyncSSH and
# parallel-ssh in a private virtualenv (PyPI, $BENCH_VENV, default /var/cache/rtmig-bench/venv), and builds rtmig
# (cargo build --release) unless RTMIG names a binary.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${BENCH_CACHE:-/var/cache/rtmig-bench}
VENV=${BENCH_VENV:-$CACHE/venv}
# Pinned so that figures from different days compare; override to try other versions.
ANSIBLE_SPEC=${BENCH_ANSIBLE_SPEC:-ansible-core==2.21.5}
PYINFRA_SPEC=${BENCH_PYINFRA_SPEC:-pyinfra==3.10.0}
ASYNCSSH_SPEC=${BENCH_ASYNCSSH_SPEC:-asyncssh==2.24.1}
# parallel-ssh's native client is libssh2 through ssh2-python (binary wheels on PyPI)
PSSH_SPEC=${BENCH_PSSH_SPEC:-parallel-ssh==2.16.0.post1}

say() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

for a in "$@"; do
    case $a in -h|--help|--report|--report=*) exec /usr/bin/python3 "$REPO/bench/run.py" "$@" ;; esac
done
[ "$(id -u)" -eq 0 ] || die "the benchmark creates network namespaces, cgroups and daemons: run it as root"

# GNU time, for `/usr/bin/time -v`
if [ ! -x /usr/bin/time ]; then
    say "installing GNU time"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 is missing (apt-get install python3)"

# ansible-core 2.21 needs Python >= 3.12: the first one found
find_python() {
    local c
    for c in "${BENCH_PYTHON:-}" python3.13 python3.12 /root/.pyenv/versions/3.13*/bin/python /root/.pyenv/versions/3.12*/bin/python \
        /usr/bin/python3; do
        [ -n "$c" ] || continue
        command -v "$c" >/dev/null 2>&1 || continue
        if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
            command -v "$c"; return 0
        fi
    done
    return 1
}
if [ ! -x "$VENV/bin/ansible-playbook" ] || [ ! -x "$VENV/bin/pyinfra" ] ||
    ! "$VENV/bin/python" -c 'import asyncssh, pssh.clients.native' 2>/dev/null; then
    py=$(find_python) || die "ansible-core needs Python >= 3.12 and none was found (set BENCH_PYTHON)"
    say "installing $ANSIBLE_SPEC, $PYINFRA_SPEC, $ASYNCSSH_SPEC and $PSSH_SPEC into $VENV (with $py)"
    mkdir -p "$(dirname "$VENV")"
    [ -x "$VENV/bin/pip" ] || "$py" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$ANSIBLE_SPEC" "$PYINFRA_SPEC" "$ASYNCSSH_SPEC" "$PSSH_SPEC"
fi

# rtmig, built once (cargo does nothing when it is up to date), unless a binary is named
args=("$@")
given=
for a in "$@"; do
    case $a in --rtmig|--rtmig=*) given=1 ;; esac
done
if [ -n "$given" ]; then
    :
elif [ -n "${RTMIG:-}" ]; then
    args+=(--rtmig "$RTMIG")
elif command -v cargo >/dev/null; then
    say "building rtmig (cargo build --release)"
    (cd "$REPO" && cargo build --release --quiet --bin rtmig) || die "cargo build --release failed"
    # a private copy: a shared target dir may be rebuilt by someone else while the benchmark runs
    mkdir -p "$CACHE"
    install -m 755 "${CARGO_TARGET_DIR:-$REPO/target}/release/rtmig" "$CACHE/rtmig"
    args+=(--rtmig "$CACHE/rtmig")
else
    say "cargo not found: rtmig is left out (set RTMIG=path/to/rtmig)"
fi

exec /usr/bin/python3 "$REPO/bench/run.py" "${args[@]}"
