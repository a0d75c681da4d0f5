#!/usr/bin/env python3
"""Each node's cordoned window in a migration run, from rtmig's per-host logs.

usage: bench/w4_window.py RUN_DIR [RUN_DIR ...]   (RUN_DIR: .rtmig/runs/<id>/ of a run of
       playbooks/migrate.yaml; several run dirs are read in order, as after a --resume)

A node's window runs from the start of its "Cordon the node" task to the end of its
"Uncordon the node" task: the time its pods are elsewhere. It is split by what ran in it:

  drain    the "Drain the node" task
  carry    the image carry after the drain ("Carry ..." and "Give the carried images ...",
           "Check every image arrived"): Docker's images into containerd
  restart  from "Stop the kubelet" to the end of "Start the kubelet", less any carry in it
           (Docker stopped, containerd configured and restarted)
  ready    from there to the uncordon: the node Ready, its pods Ready, etcd and the API
  other    the rest of the window (backups of the annotation, gaps between tasks)

Work done before the cordon (pre-staging the images while the node still serves) is
reported apart, as "before": it is not downtime.

Standard library only.
"""
import re
import sys
from datetime import datetime
from pathlib import Path

LINE = re.compile(r"^(\S+Z) TASK \[(.*)\] (?:\(play \d+, (?:task \d+|facts)\) (started)|(\w+)(?: \(ignored\))? in \d+ ms)")
CARRY = ("Carry", "Give the carried images", "Check every image arrived")
BEFORE = ("Pre-stage",)


def ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def tasks(log):
    """(name, start, end, status) of each task the log shows, in order."""
    out, open_ = [], {}
    for line in log.read_text(errors="replace").splitlines():
        m = LINE.match(line)
        if not m:
            continue
        t, name, started, status = ts(m.group(1)), m.group(2), m.group(3), m.group(4)
        if started:
            open_[name] = t
        elif name in open_:
            out.append((name, open_.pop(name), t, status))
    return out


def window(ts_list):
    cordon = next((t for t in ts_list if t[0] == "Cordon the node" and t[3] != "skipped"), None)
    uncordon = [t for t in ts_list if t[0] == "Uncordon the node" and t[3] != "skipped"]
    if not cordon or not uncordon:
        return None
    start, end = cordon[1], uncordon[-1][2]
    inside = [t for t in ts_list if t[1] >= start and t[2] <= end and t[3] != "skipped"]
    split = {"drain": 0.0, "carry": 0.0, "restart": 0.0, "ready": 0.0}
    stop = next((t[1] for t in inside if t[0] == "Stop the kubelet"), None)
    kstart = next((t[2] for t in inside if t[0] == "Start the kubelet"), None)
    for name, a, b, _ in inside:
        if name == "Drain the node":
            split["drain"] += b - a
        elif name.startswith(CARRY):
            split["carry"] += b - a
    if stop is not None and kstart is not None:
        carry_in = sum(b - a for n, a, b, _ in inside if n.startswith(CARRY) and a >= stop and b <= kstart)
        split["restart"] = kstart - stop - carry_in
        split["ready"] = end - kstart - sum(b - a for n, a, b, _ in inside if n == "Uncordon the node")
    split["other"] = (end - start) - sum(split.values())
    before = sum(b - a for n, a, b, s in ts_list if n.startswith(BEFORE) and b <= start and s != "skipped")
    return end - start, split, before


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    per_host = {}
    for d in argv:
        for log in sorted(Path(d, "hosts").glob("*.log")):
            per_host.setdefault(log.stem, []).extend(tasks(log))
    rows = []
    for host in sorted(per_host):
        w = window(per_host[host])
        if w:
            rows.append((host, *w))
    if not rows:
        print("no node was cordoned and uncordoned in these runs", file=sys.stderr)
        return 1
    cols = ["drain", "carry", "restart", "ready", "other"]
    print(f"{'node':10} {'window':>8} " + " ".join(f"{c:>8}" for c in cols) + f" {'before':>8}")
    for host, total, split, before in rows:
        print(f"{host:10} {total:8.2f} " + " ".join(f"{split[c]:8.2f}" for c in cols) + f" {before:8.2f}")
    n = len(rows)
    print(f"{'mean':10} {sum(r[1] for r in rows) / n:8.2f} "
          + " ".join(f"{sum(r[2][c] for r in rows) / n:8.2f}" for c in cols)
          + f" {sum(r[3] for r in rows) / n:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
