"""What the Python anchors of the benchmark (asyncssh-bench.py, pssh-bench.py) share: the
W2 template and upload command, the fleet's host table, the open-files limit.

Standard library only.
"""
from __future__ import annotations

import resource
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "templates" / "app.conf.j2"
UPLOAD = "cat > /root/.app.conf.tmp && chmod 0644 /root/.app.conf.tmp && mv /root/.app.conf.tmp /root/app.conf"


def read_hosts(tool: str, tsv: str, n: int) -> list[dict]:
    """The first `n` hosts of the fleet's hosts.tsv (header line first), with W2's variables."""
    rows = Path(tsv).read_text().splitlines()[1:]
    hosts = []
    for line in rows[:n]:
        name, address, port, zone, hid = line.split("\t")
        hosts.append({"name": name, "address": address, "app_port": int(port), "app_zone": zone, "app_id": int(hid)})
    if len(hosts) != n:
        sys.exit(f"{tool}: only {len(hosts)} hosts in {tsv}, expected {n}")
    return hosts


def raise_open_files(tool: str, n: int) -> None:
    """Soft RLIMIT_NOFILE up to the hard one (as rtmig does); say so when even that is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft < n + 64:
        print(f"{tool}: the open-files limit {soft} is too low for {n} connections", file=sys.stderr)
