#!/usr/bin/env bash
# Regenerate the expected outputs of the inventory corpus with the real ansible-core.
#
#   tests/corpus/inventory/regenerate.sh [CASE_DIR...]
#
# Each case folder holds `source` (the path of its inventory, relative to the folder) and
# `patterns.txt` (one `PATTERN` or `PATTERN --limit LIMIT` per line). This writes, per case:
#   expected-list.json        ansible-inventory -i SRC --list
#   expected-graph.txt        ansible-inventory -i SRC --graph
#   expected-graph-vars.txt   ansible-inventory -i SRC --graph --vars
#   expected-hosts.json       for each pattern: `ansible PATTERN -i SRC --list-hosts [--limit L]`
#                             as {pattern, limit, hosts, unmatched, error}
#   expected-list-limited.json  ansible-inventory -i SRC --list --limit "$(cat list-limit)",
#                             for cases that have a `list-limit` file
#
# ansible-core comes from $ANSIBLE_BIN (a folder holding ansible and ansible-inventory),
# else /work/venv-ansible/bin, else PATH. To create that virtualenv:
#   python3.12 -m venv /work/venv-ansible && /work/venv-ansible/bin/pip install ansible-core
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=${ANSIBLE_BIN:-/work/venv-ansible/bin}
if [ ! -x "$bin/ansible-inventory" ]; then
    if command -v ansible-inventory >/dev/null; then
        bin=$(dirname "$(command -v ansible-inventory)")
    else
        echo "regenerate.sh: ansible-inventory not found (set ANSIBLE_BIN)" >&2
        exit 1
    fi
fi
python=$bin/python3
[ -x "$python" ] || python=python3

ansible_home=$(mktemp -d)
trap 'rm -rf "$ansible_home"' EXIT
export ANSIBLE_HOME=$ansible_home ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=False \
    ANSIBLE_DEPRECATION_WARNINGS=False ANSIBLE_INVENTORY_UNPARSED_WARNING=True
unset ANSIBLE_CONFIG

if [ $# -eq 0 ]; then
    set -- "$here"/[0-9]*/
fi

version=$("$bin/ansible-inventory" --version)
echo "${version%%$'\n'*}" > "$here/ANSIBLE_VERSION"

for case in "$@"; do
    case=${case%/}
    src=$(cat "$case/source")
    echo "== $(basename "$case") ($src)"
    (
        cd "$case"
        "$bin/ansible-inventory" -i "$src" --list > expected-list.json
        "$bin/ansible-inventory" -i "$src" --graph > expected-graph.txt
        "$bin/ansible-inventory" -i "$src" --graph --vars > expected-graph-vars.txt
        if [ -f list-limit ]; then
            "$bin/ansible-inventory" -i "$src" --list --limit "$(cat list-limit)" > expected-list-limited.json
        fi
        "$python" - "$bin/ansible" "$src" <<'PY'
import json, re, subprocess, sys

ansible, src = sys.argv[1], sys.argv[2]
records = []
for line in open("patterns.txt"):
    line = line.rstrip("\n")
    if not line.strip() or line.startswith("#"):
        continue
    pattern, _, limit = line.partition(" --limit ")
    cmd = [ansible, pattern, "-i", src, "--list-hosts"]
    if limit:
        cmd += ["--limit", limit]
    p = subprocess.run(cmd, capture_output=True, text=True)
    unmatched = re.findall(r"Could not match supplied host pattern, ignoring: (.*)", p.stderr)
    hosts, error = None, None
    if p.returncode == 0:
        lines = p.stdout.splitlines()
        start = next((i for i, l in enumerate(lines) if re.match(r"\s*hosts \(\d+\):", l)), None)
        hosts = [l.strip() for l in lines[start + 1:]] if start is not None else []
    else:
        error = " ".join(l.strip() for l in p.stderr.splitlines() if "ERROR" in l) or p.stderr.strip()
    records.append({"pattern": pattern, "limit": limit or None, "hosts": hosts,
                    "unmatched": unmatched, "error": error})
with open("expected-hosts.json", "w") as f:
    json.dump(records, f, indent=2)
    f.write("\n")
PY
    )
done
