#!/usr/bin/env python3
"""bench/gen-inventory.py: a large Ansible YAML inventory with group_vars/ and host_vars/, for
timing `rtmig inventory --list` and `rtmig plan` at scale (bench/inventory-scale.sh runs them).

    bench/gen-inventory.py OUTDIR [--hosts 5000] [--host-vars-every 1]

Writes OUTDIR/inventory.yaml, OUTDIR/group_vars/*.yaml and OUTDIR/host_vars/*.yaml (one file for
every K-th host). The hosts are all in the group `bench`, which the benchmark's playbooks
(workloads/w1-steps.yaml, w2-template.yaml) target, with the variables W2's template needs:

  all
  └── bench                       group_vars/bench.yaml
      ├── dc1 ── zone_a, zone_b    group_vars/dc1.yaml, zone_X.yaml (app_zone, ...)
      ├── dc2 ── zone_c, zone_d, zone_e
      └── web, db, cache           by host number: 1/2, 1/5, the rest (group_vars/ each)

Each host line carries ansible_host, app_port and app_id; host_vars/NAME.yaml adds a rack, a
serial, a list and a nested map. Nothing is random: the same arguments write the same files.
Standard library only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ZONES = {"dc1": ["zone_a", "zone_b"], "dc2": ["zone_c", "zone_d", "zone_e"]}


def role_of(i: int) -> str:
    return "web" if i % 2 == 0 else "db" if i % 5 == 1 else "cache"


def address(i: int) -> str:
    """In 198.18.0.0/15, the range set aside for benchmarks (RFC 2544); nothing connects to it."""
    return f"198.{18 + i // 62500}.{i // 250 % 250}.{i % 250 + 2}"


def generate(out: Path, hosts: int, host_vars_every: int) -> None:
    if out.exists():
        shutil.rmtree(out)
    (out / "group_vars").mkdir(parents=True)
    (out / "host_vars").mkdir()
    zones = [z for zs in ZONES.values() for z in zs]
    names = [f"node{i:05d}" for i in range(1, hosts + 1)]
    zone_of = {n: zones[i % len(zones)] for i, n in enumerate(names)}

    lines = [
        f"# {hosts} generated hosts (bench/gen-inventory.py); not a real fleet.",
        "all:",
        "  vars:",
        "    ansible_user: root",
        "    ansible_python_interpreter: /usr/bin/python3",
        "  children:",
        "    bench:",
        "      children:",
    ]
    for dc, zs in ZONES.items():
        lines += [f"        {dc}:", "          children:"]
        for z in zs:
            lines += [f"            {z}:", "              hosts:"]
            for i, n in enumerate(names, start=1):
                if zone_of[n] == z:
                    lines.append(f"                {n}: {{ansible_host: {address(i)}, app_port: {8000 + i % 1000}, app_id: {i}}}")
    for role in ("web", "db", "cache"):
        lines += [f"        {role}:", "          hosts:"]
        lines += [f"            {n}:" for i, n in enumerate(names, start=1) if role_of(i) == role]
    (out / "inventory.yaml").write_text("\n".join(lines) + "\n")

    gv = out / "group_vars"
    (gv / "all.yaml").write_text(
        "ntp_servers: [ntp1.example.internal, ntp2.example.internal]\n"
        "log_level: info\n"
        "limits: {nofile: 65536, nproc: 4096}\n"
    )
    (gv / "bench.yaml").write_text("app_user: app\napp_root: /srv/app\nfeatures: [metrics, tracing]\n")
    for dc in ZONES:
        (gv / f"{dc}.yaml").write_text(f"datacenter: {dc}\nresolvers: [198.18.255.53, 198.19.255.53]\n")
    for z in zones:
        (gv / f"{z}.yaml").write_text(f"app_zone: {z.replace('_', '-')}\nzone_weight: {len(z)}\n")
    for role in ("web", "db", "cache"):
        (gv / f"{role}.yaml").write_text(f"role: {role}\nlog_level: {'debug' if role == 'db' else 'info'}\n")

    hv = out / "host_vars"
    for i, n in enumerate(names, start=1):
        if i % host_vars_every:
            continue
        (hv / f"{n}.yaml").write_text(
            f"rack: r{i // 40:03d}\n"
            f"serial: SN{i:08d}\n"
            f"disks: [sda, sdb{', sdc' if i % 3 == 0 else ''}]\n"
            f"bmc:\n  address: {address(i + 100000)}\n  user: admin\n"
        )


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bench/gen-inventory.py", description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="folder to write (replaced if it exists)")
    p.add_argument("--hosts", type=int, default=5000, help="how many hosts (default 5000)")
    p.add_argument("--host-vars-every", type=int, default=1, metavar="K",
                   help="a host_vars file for every K-th host (default 1: every host)")
    a = p.parse_args(argv)
    if a.hosts < 1 or a.host_vars_every < 1:
        p.error("--hosts and --host-vars-every must be at least 1")
    generate(a.out, a.hosts, a.host_vars_every)
    print(a.out / "inventory.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
