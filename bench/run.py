#!/usr/bin/env python3
"""bench/run.py: rtmig beside AsyncSSH, parallel-ssh, ansible-core, pyinfra and plain OpenSSH,
on the same hosts.

Start it through scripts/bench.sh, which installs what it needs first. It brings up a fleet of
sshd hosts (bench/fleet.sh), runs every workload with every tool, interleaved run by run
(A B C D A B C D ...), measures each run, writes one JSON line per run under bench/results/,
prints a table, and takes the fleet down again (also on Ctrl-C or failure).

What one run measures (see bench/README.md, "Reading the table"):
  wall      time from start to exit of the tool's command (time.monotonic)
  ctrl CPU  user + system CPU of the tool's whole process tree, from a cgroup v2 made for the
            run (it also catches daemonized children such as Ansible's ControlPersist masters)
  peak RSS  the largest sum of the resident sets of the processes in that cgroup, sampled every
            100 ms, and never less than /usr/bin/time -v's "Maximum resident set size"
  host CPU  CPU used by every sshd of the fleet and what they ran (the fleet's cgroup)
Standard library only: it runs with Debian's /usr/bin/python3.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
WORKLOADS = BENCH / "workloads"
FLEET_SH = BENCH / "fleet.sh"
RESULTS = BENCH / "results"
CACHE = Path(os.environ.get("BENCH_CACHE", "/var/cache/rtmig-bench"))
STATE = Path(os.environ.get("BENCH_STATE", CACHE / "fleet"))
VENV = Path(os.environ.get("BENCH_VENV", CACHE / "venv"))
RUNS = CACHE / "runs"
# Directories of earlier runs are moved here, not removed, while runs are measured: this
# machine's ext4 has no journal, and there its inode allocator skips every inode freed in
# the last minute (`recently_deleted`), so removing a run's thousand per-host logs just
# before the next run made that run's log creation cost up to 40% of rtmig's controller
# CPU (bench/README.md, session 8). Emptied when the benchmark ends.
TRASH = RUNS / ".trash"
# A failed run's directory (its output, and rtmig's journal and per-host logs) is moved here
# and kept: the trash is emptied at the end, and a failure must still be readable then.
FAILED = RUNS / "failed"
BULK = CACHE / "bulk-256MiB.bin"
BULK_MIB = 256
PAGE = os.sysconf("SC_PAGE_SIZE")
NCPU = os.cpu_count() or 1

# Display names, in table order.
TOOL_NAMES = {
    "rtmig": "rtmig",
    "asyncssh": "AsyncSSH",
    "pssh": "parallel-ssh",
    "ansible": "ansible-core",
    "pyinfra": "pyinfra",
    "openssh": "openssh-cm",
    "scp": "scp",
    "catssh": "ssh-cat",
}
# bench/fleet.sh's MAX_HOSTS: sizes past 200 are opt-in (--sizes 500,1000), ~8 MiB per sshd host.
MAX_HOSTS = 1000
# The connection timeout of every tool (pyinfra's is in workloads/pyinfra-config.py): a
# 1000-host fleet's handshakes queue on the machine's cores for longer than the usual 10 s.
CONNECT_TIMEOUT_S = 120
# What --tools accepts (scp and ssh-cat come with openssh).
ALL_TOOLS = ("rtmig", "asyncssh", "pssh", "ansible", "pyinfra", "openssh")
# Sizes past this leave openssh-cm out unless --full: its process tree holds ~11 MiB per host.
OPENSSH_MAX_N = 200
STEPS = {"W1": 10, "W2": 2, "W3": 1, "W4": 0}
# Remote commands per host-action of the tools rtmig does not count itself, from their
# scripts: one command per step everywhere in W1 (ansible-core pipelines each task into one
# `ssh … python3`); in W2 the libraries and openssh.sh send `cat > tmp && chmod && mv` then
# `sha256sum`; scp and ssh-cat are one session each. ansible-core's and pyinfra's W2 (a
# stat, a transfer, then the module or the chmod/mv) are not counted: "–".
KNOWN_COMMANDS = {
    "W1": {"asyncssh": 1.0, "pssh": 1.0, "openssh": 1.0, "ansible": 1.0, "pyinfra": 1.0},
    "W2": {"asyncssh": 1.0, "pssh": 1.0, "openssh": 1.0},
    "W3": {"scp": 1.0, "catssh": 1.0},
}
WORKLOAD_TITLES = {
    "W1": "W1 steps: 10 × /bin/true per host",
    "W2": "W2 template: ~4 KB template, upload 0644, sha256sum",
    "W3": f"W3 bulk: push {BULK_MIB} MiB to one host",
    "W4": "W4 migration rehearsal: playbooks/migrate.yaml on the lab",
}


class BenchError(Exception):
    """A problem that stops the benchmark (not a failed run, which is recorded)."""


# ---- plan -------------------------------------------------------------------------------


@dataclass
class Cell:
    """One workload at one size: how many runs each tool gets."""

    workload: str
    n: int
    runs: dict[str, int] = field(default_factory=dict)


def build_plan(args: argparse.Namespace, tools: list[str]) -> list[Cell]:
    """The default plan fits in ~15 minutes on 2 cores; --full runs everything 3 times."""
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    if args.quick:
        w1_sizes = w2_sizes = args.sizes or [10]
    else:
        w1_sizes = args.sizes or [10, 50, 100, 200]
        w2_sizes = args.sizes or [10, 50, 100]
    # ansible-core needs minutes per run at 100 hosts (~0.2 s of CPU per host-step): by
    # default it runs at 10 and 100 hosts only, once at 100, so the whole run fits in 20 min.
    def ansible_runs(n: int) -> int:
        if args.full or args.quick:
            return runs
        if n <= 10:
            return runs
        if n == 100:
            return min(runs, args.ansible_runs_large)
        return 0

    plan: list[Cell] = []
    for w in args.workloads:
        if w == "W1" or w == "W2":
            sizes = w1_sizes if w == "W1" else w2_sizes
            for n in sizes:
                cell = Cell(w, n)
                for t in ("rtmig", "asyncssh", "pssh", "ansible", "pyinfra", "openssh"):
                    if t not in tools:
                        continue
                    if t == "ansible":
                        cell.runs[t] = ansible_runs(n)
                    elif t == "openssh" and n > OPENSSH_MAX_N and not args.full:
                        # one ssh master and one ssh per command per host: ~11 MiB a host
                        cell.runs[t] = 0
                    else:
                        cell.runs[t] = runs
                plan.append(cell)
        elif w == "W3":
            cell = Cell(w, 1)
            for t in ("rtmig", "ansible", "pyinfra", "scp", "catssh"):
                if t in tools or (t in ("scp", "catssh") and "openssh" in tools):
                    cell.runs[t] = runs
            plan.append(cell)
        elif w == "W4":
            if "rtmig" in tools:
                plan.append(Cell(w, 0, {"rtmig": 1}))
    return [c for c in plan if any(c.runs.values())]


# ---- fleet ------------------------------------------------------------------------------


@dataclass
class Host:
    name: str
    address: str
    app_port: int
    app_zone: str
    app_id: int

    @property
    def home(self) -> Path:
        return STATE / "hosts" / self.name / "home"


def cgroup_base() -> Path | None:
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return Path(parts[1]) / "rtmig-bench"
    return None


CGROUP = Path(os.environ["BENCH_CGROUP"]) if os.environ.get("BENCH_CGROUP") else cgroup_base()


def fleet(*args: str) -> str:
    env = dict(os.environ, BENCH_STATE=str(STATE))
    if CGROUP:
        env["BENCH_CGROUP"] = str(CGROUP)
    p = subprocess.run(["bash", str(FLEET_SH), *args], env=env, stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise BenchError(f"`bench/fleet.sh {' '.join(args)}` failed (exit {p.returncode})")
    return p.stdout


def read_hosts() -> list[Host]:
    hosts = []
    with open(STATE / "hosts.tsv") as f:
        next(f)
        for line in f:
            name, address, port, zone, hid = line.rstrip("\n").split("\t")
            hosts.append(Host(name, address, int(port), zone, int(hid)))
    return hosts


def write_inventories(hosts: list[Host], n: int, known_hosts: Path | None = None, tag: str = "") -> tuple[Path, Path]:
    """The first n hosts as an Ansible YAML inventory (rtmig, ansible-core) and as a pyinfra one,
    checking host keys against `known_hosts` (default: the fleet's)."""
    ssh = STATE / "ssh"
    kh = known_hosts or ssh / "known_hosts"
    yaml_path = STATE / f"inventory{tag}-{n}.yaml"
    lines = [
        f"# The first {n} hosts of the benchmark fleet; rtmig and ansible-core read this file.",
        "all:",
        "  vars:",
        "    ansible_user: root",
        f"    ansible_ssh_private_key_file: {ssh}/id_ed25519",
        f"    ansible_ssh_common_args: '-o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes'",
        "    ansible_python_interpreter: /usr/bin/python3",
        "  children:",
        "    bench:",
        "      hosts:",
    ]
    for h in hosts[:n]:
        lines.append(
            f"        {h.name}: {{ansible_host: {h.address}, app_port: {h.app_port}, "
            f"app_zone: {h.app_zone}, app_id: {h.app_id}}}"
        )
    yaml_path.write_text("\n".join(lines) + "\n")
    py_path = STATE / f"pyinfra{tag}-{n}.py"
    group = {
        "ssh_user": "root",
        "ssh_key": f"{ssh}/id_ed25519",
        "ssh_known_hosts_file": str(kh),
        "ssh_strict_host_key_checking": "yes",
        "ssh_allow_agent": False,
        "ssh_look_for_keys": False,
    }
    rows = [
        f"    ({h.name!r}, {{'ssh_hostname': {h.address!r}, 'app_port': {h.app_port}, "
        f"'app_zone': {h.app_zone!r}, 'app_id': {h.app_id}}}),"
        for h in hosts[:n]
    ]
    py_path.write_text(
        f"# The first {n} hosts of the benchmark fleet, for pyinfra (same hosts and variables).\n"
        "bench = (\n  [\n" + "\n".join(rows) + f"\n  ],\n  {group!r},\n)\n"
    )
    return yaml_path, py_path


def expected_app_conf(h: Host) -> bytes:
    """What templates/app.conf.j2 renders for host h (every tool's output is checked against it)."""
    out = [
        f"# {h.name}: written by the rtmig benchmark (W2). Do not edit.",
        "[server]",
        f"name = {h.name}",
        f"listen = {h.address}:{h.app_port}",
        f"zone = {h.app_zone}",
        f"id = {h.app_id}",
        "",
        "[upstreams]",
    ]
    out += [f"worker{i} = {h.name}-w{i}.{h.app_zone}.bench.internal:{h.app_port + i}" for i in range(78)]
    return ("\n".join(out) + "\n").encode()


# ---- measuring one run ------------------------------------------------------------------


def cpu_stat(cg: Path) -> dict[str, int]:
    try:
        with open(cg / "cpu.stat") as f:
            return {k: int(v) for k, v in (line.split() for line in f)}
    except OSError:
        return {}


def cgroup_pids(cg: Path) -> list[int]:
    try:
        return [int(x) for x in (cg / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def tree_rss_kib(cg: Path, skip: int) -> int:
    total = 0
    for pid in cgroup_pids(cg):
        if pid == skip:
            continue
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE // 1024
        except (OSError, IndexError, ValueError):
            pass
    return total


def kill_cgroup(cg: Path) -> None:
    if not cg.exists():
        return
    if (cg / "cgroup.kill").exists():
        try:
            (cg / "cgroup.kill").write_text("1")
        except OSError:
            pass
    for _ in range(100):
        pids = cgroup_pids(cg)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)


def parse_time_v(path: Path) -> dict[str, str]:
    out = {}
    try:
        for line in path.read_text(errors="replace").splitlines():
            k, sep, v = line.strip().rpartition(": ")
            if sep:
                out[k] = v
    except OSError:
        pass
    return out


@dataclass
class Measured:
    rc: int
    wall_s: float
    ctrl_user_s: float | None
    ctrl_sys_s: float | None
    peak_tree_rss_kib: int
    max_proc_rss_kib: int | None
    host_cpu_s: float | None
    timed_out: bool


def measure(cmd: list[str], env: dict[str, str], rundir: Path, timeout: float) -> Measured:
    """Run cmd in a cgroup of its own under /usr/bin/time -v; wall, CPU, memory, host CPU."""
    cg = CGROUP / "run" if CGROUP else None
    if cg:
        kill_cgroup(cg)
        if cg.exists():
            cg.rmdir()
        cg.mkdir(parents=True)
    timef = rundir / "time.txt"
    inner = ["/usr/bin/time", "-v", "-o", str(timef), *cmd]
    wrapped = ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(cg), *inner] if cg else inner
    fleet_cg = CGROUP / "fleet" if CGROUP else None
    h0 = cpu_stat(fleet_cg).get("usage_usec") if fleet_cg else None
    peak = 0
    timed_out = False
    with open(rundir / "output.log", "wb") as log:
        t0 = time.monotonic()
        p = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=rundir)
        try:
            while True:
                try:
                    rc = p.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    if cg:
                        peak = max(peak, tree_rss_kib(cg, skip=p.pid))
                    if time.monotonic() - t0 > timeout:
                        timed_out = True
                        if cg:
                            kill_cgroup(cg)
                        p.kill()
                        rc = p.wait()
                        break
        except BaseException:
            if cg:
                kill_cgroup(cg)
            p.kill()
            p.wait()
            raise
        wall = time.monotonic() - t0
    user = sys_ = None
    if cg:
        kill_cgroup(cg)  # leftovers, such as ControlPersist masters: every run starts cold
        st = cpu_stat(cg)
        user, sys_ = st.get("user_usec", 0) / 1e6, st.get("system_usec", 0) / 1e6
        try:
            cg.rmdir()
        except OSError:
            pass
    time.sleep(0.3)  # sshd finishes closing the sessions of the run
    h1 = cpu_stat(fleet_cg).get("usage_usec") if fleet_cg else None
    tv = parse_time_v(timef)
    maxrss = int(tv["Maximum resident set size (kbytes)"]) if "Maximum resident set size (kbytes)" in tv else None
    return Measured(
        rc=rc,
        wall_s=wall,
        ctrl_user_s=user,
        ctrl_sys_s=sys_,
        peak_tree_rss_kib=max(peak, maxrss or 0),
        max_proc_rss_kib=maxrss,
        host_cpu_s=(h1 - h0) / 1e6 if h0 is not None and h1 is not None else None,
        timed_out=timed_out,
    )


# ---- tools ------------------------------------------------------------------------------


@dataclass
class Env:
    rtmig: Path | None
    hosts: list[Host]
    inventories: dict[int, tuple[Path, Path]]
    timeout: float
    # what every tool checks host keys against, and the OpenSSH client config that names it
    known_hosts: Path = STATE / "ssh" / "known_hosts"
    ssh_config: Path = STATE / "ssh" / "config"


def tool_command(tool: str, workload: str, n: int, e: Env, rundir: Path) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one run of `tool` on workload at size n."""
    inv_yaml, inv_py = e.inventories[n]
    env = dict(os.environ)
    env.pop("ANSIBLE_CONFIG", None)
    playbook = {"W1": "w1-steps", "W2": "w2-template", "W3": "w3-bulk"}.get(workload)
    ssh_cfg = str(e.ssh_config)
    extra: list[str] = []
    if tool == "rtmig":
        if workload == "W3":
            extra = ["-e", f"bulk_src={BULK}"]
        return [str(e.rtmig), "run", "-i", str(inv_yaml), str(WORKLOADS / f"{playbook}.yaml"),
                "--forks", str(n), "--yes", "--timeout", str(CONNECT_TIMEOUT_S), *extra], env
    if tool == "ansible":
        if workload == "W3":
            extra = ["-e", f"bulk_src={BULK}"]
        env.update(
            ANSIBLE_CONFIG=str(WORKLOADS / "ansible.cfg"),
            ANSIBLE_SSH_CONTROL_PATH_DIR=str(rundir / "cp"),
            ANSIBLE_LOCAL_TEMP=str(rundir / "tmp"),
            ANSIBLE_NOCOLOR="1",
        )
        return [str(VENV / "bin" / "ansible-playbook"), "-i", str(inv_yaml), "-f", str(n),
                "--timeout", str(CONNECT_TIMEOUT_S),
                str(WORKLOADS / f"{playbook}.yaml"), *extra], env
    if tool == "pyinfra":
        if workload == "W3":
            extra = ["--data", f"bulk_src={BULK}"]
        return [str(VENV / "bin" / "pyinfra"), str(inv_py), str(WORKLOADS / f"{playbook}.py"),
                "-y", "--parallel", str(n), "--config", str(WORKLOADS / "pyinfra-config.py"), *extra], env
    if tool in ("asyncssh", "pssh"):
        return [str(VENV / "bin" / "python"), str(WORKLOADS / f"{tool}-bench.py"), workload.lower(),
                str(STATE / "hosts.tsv"), str(n), "--key", str(STATE / "ssh" / "id_ed25519"),
                "--known-hosts", str(e.known_hosts), "--connect-timeout", str(CONNECT_TIMEOUT_S)], env
    if tool == "openssh":
        return ["bash", str(WORKLOADS / "openssh.sh"), workload.lower(), str(STATE / "hosts.tsv"),
                ssh_cfg, str(rundir / "cp"), str(n)], env
    if tool == "scp":
        return ["scp", "-q", "-F", ssh_cfg, str(BULK), f"{e.hosts[0].name}:/root/bulk.bin"], env
    if tool == "catssh":
        return ["bash", "-c", 'cat "$1" | ssh -F "$2" "$3" "cat > /root/bulk.bin"', "catssh",
                str(BULK), ssh_cfg, e.hosts[0].name], env
    raise BenchError(f"unknown tool `{tool}`")


def reset_hosts(workload: str, hosts: list[Host]) -> None:
    """Remove what an earlier run left, so every run does the whole job."""
    for h in hosts:
        for name in {"W2": ("app.conf", ".app.conf.tmp"), "W3": ("bulk.bin",)}.get(workload, ()):
            try:
                (h.home / name).unlink()
            except FileNotFoundError:
                pass
    if workload == "W3":
        # the source is read from the page cache by every tool alike
        with open(BULK, "rb") as f:
            while f.read(1 << 22):
                pass


_bulk_sha: str | None = None


def bulk_sha() -> str:
    global _bulk_sha
    if _bulk_sha is None:
        _bulk_sha = sha256_file(BULK)
    return _bulk_sha


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def verify(workload: str, hosts: list[Host]) -> str | None:
    """None when the run left every host as the workload says, else what is wrong."""
    if workload == "W2":
        for h in hosts:
            p = h.home / "app.conf"
            try:
                data, mode = p.read_bytes(), p.stat().st_mode & 0o7777
            except OSError:
                return f"{h.name}: /root/app.conf missing"
            if data != expected_app_conf(h):
                return f"{h.name}: /root/app.conf differs from the expected rendering ({len(data)} bytes)"
            if mode != 0o644:
                return f"{h.name}: /root/app.conf has mode {mode:04o}, expected 0644"
    if workload == "W3":
        p = hosts[0].home / "bulk.bin"
        try:
            st = p.stat()
        except OSError:
            return f"{hosts[0].name}: /root/bulk.bin missing"
        if st.st_size != BULK.stat().st_size:
            return f"{hosts[0].name}: /root/bulk.bin has {st.st_size} bytes, expected {BULK.stat().st_size}"
        if st.st_mode & 0o7777 != 0o644:
            return f"{hosts[0].name}: /root/bulk.bin has mode {st.st_mode & 0o7777:04o}, expected 0644"
        if sha256_file(p) != bulk_sha():
            return f"{hosts[0].name}: /root/bulk.bin differs from the source"
    return None


def tail(path: Path, lines: int = 6) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def set_aside(path: Path) -> None:
    """Move `path` (a directory of an earlier run) out of the way without freeing its inodes."""
    if not path.exists():
        return
    TRASH.mkdir(parents=True, exist_ok=True)
    try:
        path.rename(TRASH / f"{time.time_ns()}-{path.name}")
    except OSError:  # another file system (BENCH_STATE elsewhere): remove it after all
        shutil.rmtree(path, ignore_errors=True)


def keep_failed(rundir: Path, name: str) -> Path:
    """Move a failed run's directory, with rtmig's run journal and per-host logs when there
    are some, to FAILED, out of reach of the trash."""
    def move(src: Path, to: Path) -> None:
        try:
            src.rename(to)
        except OSError:  # another file system
            shutil.copytree(src, to, dirs_exist_ok=True)

    dest = FAILED / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    move(rundir, dest)
    journal = STATE / ".rtmig"
    if journal.exists():
        move(journal, dest / "rtmig-journal")
    return dest


def empty_trash() -> None:
    shutil.rmtree(TRASH, ignore_errors=True)


def run_one(tool: str, cell: Cell, run: int, e: Env, session: str) -> dict:
    n = cell.n
    hosts = e.hosts[: max(n, 1)]
    rundir = RUNS / f"{cell.workload}-{n}-{tool}-{run}"
    set_aside(rundir)
    rundir.mkdir(parents=True)
    set_aside(STATE / ".rtmig")  # rtmig's run journal beside the inventory
    reset_hosts(cell.workload, hosts)
    cmd, env = tool_command(tool, cell.workload, max(n, 1), e, rundir)
    load = os.getloadavg()
    m = measure(cmd, env, rundir, e.timeout)
    error = None
    if m.timed_out:
        error = f"timed out after {e.timeout:.0f} s"
    elif m.rc != 0:
        error = f"exit {m.rc}: {tail(rundir / 'output.log', 3)}"
    else:
        error = verify(cell.workload, hosts)
    cmds = commands_per_action(tool, cell.workload)  # before a failed run's journal moves
    logdir = rundir
    if error is not None:
        logdir = keep_failed(rundir, f"{cell.workload}-{n}-{tool}-{run}")
        error += f" (output and logs kept in {logdir})"
    host_steps = max(n, 1) * STEPS[cell.workload]
    ctrl = (m.ctrl_user_s or 0) + (m.ctrl_sys_s or 0) if m.ctrl_user_s is not None else None
    rec = {
        "kind": "run",
        "session": session,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "workload": cell.workload,
        "n": max(n, 1),
        "tool": tool,
        "run": run,
        "ok": error is None,
        "error": error,
        "rc": m.rc,
        "wall_s": round(m.wall_s, 4),
        "ctrl_user_s": m.ctrl_user_s,
        "ctrl_sys_s": m.ctrl_sys_s,
        "ctrl_cpu_s": ctrl,
        "peak_tree_rss_kib": m.peak_tree_rss_kib,
        "max_proc_rss_kib": m.max_proc_rss_kib,
        "host_cpu_s": m.host_cpu_s,
        "host_steps": host_steps,
        "ctrl_cpu_ms_per_host_step": round(ctrl * 1000 / host_steps, 3) if ctrl is not None and host_steps else None,
        "host_cpu_ms_per_host_step": (
            round(m.host_cpu_s * 1000 / host_steps, 3) if m.host_cpu_s is not None and host_steps else None
        ),
        "loadavg_before": [round(x, 2) for x in load],
        "cmds_per_host_action": cmds,
        "log": str(logdir / "output.log"),
    }
    if cell.workload == "W3" and m.wall_s > 0:
        rec["mib_per_s"] = round(BULK_MIB / m.wall_s, 1)
    return rec


# ---- W4: the migration on the lab ------------------------------------------------------


def task_time_union(run_dir: Path) -> tuple[float, float, int] | None:
    """From rtmig's per-host logs: (first task start, seconds during which at least one task
    was running on some host, tasks seen), or None when the logs cannot be read.

    A log line `TIME TASK [name] (play P, task T) started` opens a task on its host and
    `TIME TASK [name] <status> in N ms[, rc=R]` closes it."""
    import re
    from datetime import datetime

    started = re.compile(r"^(\S+) TASK \[.*\] \(play \d+, task \d+\) started$")
    finished = re.compile(r"^(\S+) TASK \[.*\] [\w ()]+ in (\d+) ms(, .*)?$")

    def ts(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    intervals: list[tuple[float, float]] = []
    for log in sorted((run_dir / "hosts").glob("*.log")):
        open_at = None
        for line in log.read_text(errors="replace").splitlines():
            if m := started.match(line):
                open_at = ts(m.group(1))
            elif (m := finished.match(line)) and open_at is not None:
                end = ts(m.group(1))
                intervals.append((min(open_at, end - int(m.group(2)) / 1000), end))
                open_at = None
    if not intervals:
        return None
    intervals.sort()
    total, cur_s, cur_e = 0.0, intervals[0][0], intervals[0][1]
    for a, b in intervals[1:]:
        if a > cur_e:
            total += cur_e - cur_s
            cur_s, cur_e = a, b
        else:
            cur_e = max(cur_e, b)
    total += cur_e - cur_s
    return intervals[0][0], total, len(intervals)


def rtmig_commands_per_action(runs_dir: Path) -> float | None:
    """Remote commands per host-action of an rtmig run, from its per-host logs: every task
    line ends with `, N remote command(s)`; None when there is no such line."""
    import re

    ended = re.compile(r" in \d+ ms(?:, rc=-?\d+)?, (\d+) remote commands?$")
    commands = actions = 0
    for log in runs_dir.glob("*/hosts/*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if m := ended.search(line):
                commands += int(m.group(1))
                actions += 1
    return round(commands / actions, 3) if actions else None


def commands_per_action(tool: str, workload: str) -> float | None:
    """Remote commands per host-action of a finished run of `tool`."""
    if tool == "rtmig":
        return rtmig_commands_per_action(STATE / ".rtmig" / "runs")
    return KNOWN_COMMANDS.get(workload, {}).get(tool)


def run_w4(e: Env, session: str) -> dict:
    """rtmig runs playbooks/migrate.yaml once on a fresh default lab (lab/lab.sh up).

    The wall time is split into remote time (some task was running on some host: the union of
    the task intervals in rtmig's per-host logs) and rtmig's own overhead (no task running
    anywhere: start-up, planning, batch changes); rtmig's CPU time is reported beside it.
    """
    lab = REPO / "lab" / "lab.sh"
    playbook = REPO / "playbooks" / "migrate.yaml"
    base = {"kind": "run", "session": session, "workload": "W4", "n": 0, "tool": "rtmig", "run": 1}
    if not lab.exists() or not playbook.exists():
        return {**base, "ok": False, "error": "skipped: lab/lab.sh or playbooks/migrate.yaml is not in this checkout"}
    if not e.rtmig:
        return {**base, "ok": False, "error": "skipped: no rtmig binary"}
    up = subprocess.run(["bash", str(lab), "up"], stdout=subprocess.PIPE, text=True)
    if up.returncode != 0:
        return {**base, "ok": False, "error": f"skipped: `lab/lab.sh up` failed (exit {up.returncode})"}
    try:
        inv = Path(up.stdout.strip().splitlines()[-1])
        set_aside(inv.parent / ".rtmig")
        rundir = RUNS / "W4-rtmig-1"
        set_aside(rundir)
        rundir.mkdir(parents=True)
        # The default lab's log agent mounts docker.sock: accepted, as an operator would.
        cmd = [str(e.rtmig), "run", "-i", str(inv), str(playbook), "--yes",
               "-e", "accept_docker_socket_workloads=true"]
        t_start = time.time()
        m = measure(cmd, dict(os.environ), rundir, e.timeout)
        ctrl = (m.ctrl_user_s or 0) + (m.ctrl_sys_s or 0)
        err = None if m.rc == 0 else f"exit {m.rc}: {tail(rundir / 'output.log', 3)}"
        runs = sorted((inv.parent / ".rtmig" / "runs").glob("*"))
        split = task_time_union(runs[-1]) if runs else None
        rec = {
            **base,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "n": sum(1 for ln in inv.read_text().splitlines() if "ansible_host" in ln),
            "ok": err is None,
            "error": err,
            "rc": m.rc,
            "wall_s": round(m.wall_s, 4),
            "ctrl_user_s": m.ctrl_user_s,
            "ctrl_sys_s": m.ctrl_sys_s,
            "ctrl_cpu_s": ctrl,
            "cpu_pct_of_wall": round(100 * ctrl / m.wall_s, 2) if m.wall_s else None,
            "peak_tree_rss_kib": m.peak_tree_rss_kib,
            "max_proc_rss_kib": m.max_proc_rss_kib,
            "host_cpu_s": None,
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
            "log": str(rundir / "output.log"),
        }
        if split:
            first, remote, tasks = split
            rec.update(
                remote_s=round(remote, 3),
                overhead_s=round(m.wall_s - remote, 3),
                overhead_pct=round(100 * (m.wall_s - remote) / m.wall_s, 2),
                startup_s=round(first - t_start, 3),
                tasks=tasks,
            )
        # keep rtmig's logs of the run for a look afterwards
        if runs:
            shutil.copytree(runs[-1], rundir / "rtmig-run", dirs_exist_ok=True)
        return rec
    finally:
        subprocess.run(["bash", str(lab), "down"], stdout=subprocess.DEVNULL)


# ---- report -----------------------------------------------------------------------------


def fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def table(records: list[dict]) -> str:
    runs = [r for r in records if r.get("kind") == "run"]
    out: list[str] = []
    cells: dict[tuple[str, int], list[dict]] = {}
    for r in runs:
        cells.setdefault((r["workload"], r["n"]), []).append(r)
    for (w, n), rs in sorted(cells.items()):
        out.append(f"\n### {WORKLOAD_TITLES.get(w, w)}" + (f", N = {n}" if w in ("W1", "W2") else ""))
        out.append("")
        if w == "W4":
            for r in rs:
                if r.get("wall_s") is None:
                    out.append(f"- rtmig: {r.get('error')}")
                else:
                    out.append(
                        f"- rtmig on {r['n']} lab hosts: wall {fmt(r['wall_s'])} s = remote {fmt(r.get('remote_s'))} s "
                        f"(some task running on some host) + rtmig's own overhead {fmt(r.get('overhead_s'))} s "
                        f"({fmt(r.get('overhead_pct'))} %); rtmig's CPU {fmt(r.get('ctrl_cpu_s'))} s "
                        f"({fmt(r.get('cpu_pct_of_wall'))} % of the wall time); peak RSS "
                        f"{fmt(r['peak_tree_rss_kib'] / 1024, 1)} MiB" + ("" if r["ok"] else f"  (FAILED: {r['error']})")
                    )
            continue
        by_tool: dict[str, list[dict]] = {}
        for r in rs:
            by_tool.setdefault(r["tool"], []).append(r)
        ok = {t: [r for r in v if r["ok"]] for t, v in by_tool.items()}
        ref = statistics.median(r["wall_s"] for r in ok["rtmig"]) if ok.get("rtmig") else None
        extra = " MiB/s |" if w == "W3" else ""
        out.append(
            "| tool | runs | median s | min s | max s | × rtmig | peak RSS MiB | ctrl CPU ms/host-step "
            "| host CPU ms/host-step | CPU s | cmds/host-action |" + extra
        )
        out.append("|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if w == "W3" else ""))
        floors = []
        for t in TOOL_NAMES:
            if t not in by_tool:
                continue
            good = ok[t]
            bad = len(by_tool[t]) - len(good)
            runs_s = f"{len(good)}" + (f" (+{bad} failed)" if bad else "")
            if not good:
                out.append(f"| {TOOL_NAMES[t]} | {runs_s} | – | – | – | – | – | – | – | – | – |" + (" – |" if extra else ""))
                continue
            walls = [r["wall_s"] for r in good]
            med = statistics.median(walls)

            def med_of(key: str) -> float | None:
                vals = [r[key] for r in good if r.get(key) is not None]
                return statistics.median(vals) if vals else None

            rss = max(r["peak_tree_rss_kib"] for r in good) / 1024
            hc = med_of("host_cpu_s")
            if hc is not None:
                floors.append((hc, t))
            row = (
                f"| {TOOL_NAMES[t]} | {runs_s} | {med:.2f} | {min(walls):.2f} | {max(walls):.2f} | "
                f"{fmt(med / ref if ref else None)} | {rss:.1f} | {fmt(med_of('ctrl_cpu_ms_per_host_step'))} | "
                f"{fmt(med_of('host_cpu_ms_per_host_step'))} | "
                f"{fmt(statistics.median((r['ctrl_cpu_s'] or 0) + (r['host_cpu_s'] or 0) for r in good), 1)} | "
                f"{fmt(med_of('cmds_per_host_action'))} |"
            )
            if extra:
                row += f" {BULK_MIB / med:.0f} |"
            out.append(row)
        loads = [r["loadavg_before"][0] for r in rs if r.get("loadavg_before")]
        if loads:
            out.append(f"\nLoad average before the runs: {min(loads):.1f} to {max(loads):.1f} on {NCPU} cores.")
        failed = [r for r in rs if not r["ok"]]
        for r in failed[:4]:
            out.append(f"\n> {TOOL_NAMES.get(r['tool'], r['tool'])} run {r['run']} failed: {r['error']}")
        if floors and w in ("W1", "W2"):
            hc, t = min(floors)
            cores = max((r.get("ncpu") or NCPU) for r in rs)
            out.append(
                f"\nFloor: the least host-side CPU of any tool ({TOOL_NAMES[t]}: {hc:.2f} s for "
                f"{rs[0]['host_steps']} host-steps) spread over {cores} cores = {hc / cores:.2f} s; "
                "a controller that cost nothing could not finish sooner."
            )
    out += scaling(runs)
    for sess in (r for r in records if r.get("kind") == "session" and r.get("host_key_check") is not None):
        out += ["", "### Host keys: each tool on one host whose key in known_hosts is another key", ""]
        out += [f"- {TOOL_NAMES.get(t, t)}: {said}" for t, said in sess["host_key_check"].items()]
        out += [f"- {TOOL_NAMES.get(t, t)}: LEFT OUT: {why}" for t, why in sess.get("excluded", {}).items()
                if "known_hosts" in why]
    return "\n".join(out)


def scaling(runs: list[dict]) -> list[str]:
    """Per workload and tool: the median wall time at each size, and how it grew."""
    out: list[str] = []
    for w in ("W1", "W2"):
        by_tool: dict[str, dict[int, list[float]]] = {}
        for r in runs:
            if r["workload"] == w and r["ok"]:
                by_tool.setdefault(r["tool"], {}).setdefault(r["n"], []).append(r["wall_s"])
        lines = []
        for t in TOOL_NAMES:
            sizes = by_tool.get(t, {})
            if len(sizes) < 2:
                continue
            ns = sorted(sizes)
            meds = {n: statistics.median(sizes[n]) for n in ns}
            curve = ", ".join(f"{n} → {meds[n]:.2f} s" for n in ns)
            lo, hi = ns[0], ns[-1]
            lines.append(
                f"| {TOOL_NAMES[t]} | {curve} | ×{meds[hi] / meds[lo]:.1f} for ×{hi / lo:.0f} hosts |"
            )
        if lines:
            out += ["", f"### Scaling, {w}: median wall time by host count", "",
                    "| tool | hosts → median | growth |", "|---|---|---|", *lines]
    return out


# ---- main -------------------------------------------------------------------------------


def tool_versions(rtmig: Path | None) -> dict[str, str]:
    def first_line(cmd: list[str]) -> str:
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60,
                               env=dict(os.environ, PYTHONWARNINGS="ignore"))
            return p.stdout.strip().splitlines()[0] if p.stdout.strip() else ""
        except (OSError, subprocess.TimeoutExpired):
            return "missing"

    def dist(name: str) -> str:
        return first_line([str(VENV / "bin" / "python"), "-c",
                           f"import importlib.metadata as m; print(m.version({name!r}))"])

    v = {
        "asyncssh": dist("asyncssh"),
        "parallel-ssh": dist("parallel-ssh") + " (ssh2-python " + dist("ssh2-python") + ")",
        "ansible-core": first_line([str(VENV / "bin" / "ansible"), "--version"]),
        "pyinfra": first_line([str(VENV / "bin" / "pyinfra"), "--version"]),
        "openssh": first_line(["ssh", "-V"]),
    }
    if rtmig:
        v["rtmig"] = first_line([str(rtmig), "--version"])
        v["rtmig_binary"] = str(rtmig)  # rtmig_git below is the checkout's, whatever --rtmig named
        try:
            v["rtmig_git"] = subprocess.run(
                ["git", "-C", str(REPO), "describe", "--always", "--dirty"], stdout=subprocess.PIPE, text=True
            ).stdout.strip()
        except OSError:
            pass
    return v


def machine() -> dict:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"ncpu": NCPU, "cpu": model, "kernel": platform.release(), "hostname": platform.node()}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="scripts/bench.sh",
        description="Benchmark rtmig against AsyncSSH, parallel-ssh, ansible-core, pyinfra and OpenSSH on a "
        "fleet of local sshd hosts.",
    )
    p.add_argument("--quick", action="store_true",
                   help="N = 10 only (or --sizes), 1 run each (a try-out, ~2 minutes)")
    p.add_argument("--full", action="store_true", help="every tool at every size, 3 runs (ansible-core makes this ~1 hour)")
    p.add_argument("--runs", type=int, help="runs per tool and size (default 3; 1 with --quick)")
    p.add_argument("--ansible-runs-large", type=int, default=1, help="ansible-core runs at N = 100 (default 1)")
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], help="host counts for W1 and W2, e.g. 10,100")
    p.add_argument("--workloads", type=lambda s: [x.upper() for x in s.split(",")], default=["W1", "W2", "W3"],
                   help="comma-separated: W1,W2,W3,W4 (default W1,W2,W3; W4 needs the lab)")
    p.add_argument("--tools", type=lambda s: s.split(","), default=list(ALL_TOOLS),
                   help="comma-separated: " + ",".join(ALL_TOOLS) + " (openssh includes scp and cat|ssh in W3; "
                   "asyncssh and pssh run W1 and W2 only)")
    p.add_argument("--rtmig", type=Path, help="the rtmig binary (default: $CARGO_TARGET_DIR/release/rtmig)")
    p.add_argument("--timeout", type=float, default=900, help="seconds before one run is killed (default 900)")
    p.add_argument("--reuse-fleet", action="store_true", help="use a fleet that is already up, if it is big enough")
    p.add_argument("--keep-fleet", action="store_true", help="leave the fleet up at the end")
    p.add_argument("--report", type=Path, metavar="RESULTS.jsonl", help="only print the table of an earlier run")
    a = p.parse_args(argv)
    for w in a.workloads:
        if w not in STEPS:
            p.error(f"unknown workload `{w}`, expected W1, W2, W3 or W4")
    for n in a.sizes or ():
        if not 1 <= n <= MAX_HOSTS:
            p.error(f"--sizes: {n} is not a host count from 1 to {MAX_HOSTS} (bench/fleet.sh's limit)")
    for t in a.tools:
        if t not in ALL_TOOLS:
            p.error(f"unknown tool `{t}`, expected one of " + ", ".join(ALL_TOOLS))
    return a


def find_rtmig(given: Path | None) -> Path | None:
    if given:
        return given if given.exists() else None
    for base in (os.environ.get("CARGO_TARGET_DIR"), str(REPO / "target")):
        if base and (Path(base) / "release" / "rtmig").exists():
            return Path(base) / "release" / "rtmig"
    return None


def warm_up(tools: list[str], e: Env) -> dict[str, str]:
    """One unmeasured W1 run per tool on one host: caches are warm, and a tool that cannot
    run at all (rtmig before its SSH transport landed) is left out with the reason."""
    excluded = {}
    for t in tools:
        rundir = RUNS / f"warmup-{t}"
        set_aside(rundir)
        rundir.mkdir(parents=True)
        set_aside(STATE / ".rtmig")
        if t == "rtmig" and not e.rtmig:
            excluded[t] = "no rtmig binary (build it: cargo build --release)"
            continue
        cmd, env = tool_command(t, "W1", 1, e, rundir)
        m = measure(cmd, env, rundir, 300)
        if m.rc != 0:
            excluded[t] = f"its W1 warm-up on one host failed (exit {m.rc}): " + tail(rundir / "output.log", 4).replace("\n", " | ")
    return excluded


def host_key_check(tools: list[str], e: Env) -> tuple[dict[str, str], dict[str, str]]:
    """Every tool once more on one host, this time against a known_hosts in which that host's
    key is another (freshly made) key: the run must fail. Returns (what each tool said,
    the tools that ran anyway and are left out for it)."""
    ssh = STATE / "ssh"
    wrong = ssh / "wrong-host-key"
    for f in (wrong, wrong.with_suffix(".pub")):
        f.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "not-a-fleet-key", "-f", str(wrong)],
                   check=True, stdout=subprocess.DEVNULL)
    pub = " ".join(wrong.with_suffix(".pub").read_text().split()[:2])
    h = e.hosts[0]
    lines = [f"{h.address} {pub}" if line.split(" ", 1)[0] == h.address else line
             for line in e.known_hosts.read_text().splitlines()]
    kh = ssh / "known_hosts.wrong"
    kh.write_text("\n".join(lines) + "\n")
    cfg = ssh / "config.wrong"
    cfg.write_text(e.ssh_config.read_text().replace(str(e.known_hosts), str(kh)))
    bad = Env(e.rtmig, e.hosts, {1: write_inventories(e.hosts, 1, known_hosts=kh, tag="-wrongkey")}, e.timeout,
              known_hosts=kh, ssh_config=cfg)
    said, excluded = {}, {}
    for t in tools:
        rundir = RUNS / f"hostkey-{t}"
        set_aside(rundir)
        rundir.mkdir(parents=True)
        set_aside(STATE / ".rtmig")
        cmd, env = tool_command(t, "W1", 1, bad, rundir)
        m = measure(cmd, env, rundir, 300)
        log = (rundir / "output.log").read_text(errors="replace").splitlines()
        about_key = [ln.strip() for ln in log if "host key" in ln.lower() or "hostkey" in ln.lower()]
        if m.rc == 0:
            excluded[t] = f"it ran on {h.name} although known_hosts lists another key for it"
        elif about_key:
            said[t] = f"refused (exit {m.rc}): {about_key[-1][:300]}"
        else:
            said[t] = f"failed (exit {m.rc}), without naming the host key: " + " | ".join(log[-2:])[-300:]
    return said, excluded


def raise_open_files(max_n: int) -> dict:
    """RLIMIT_NOFILE's soft limit up to the hard one, for this process and so for every tool
    (rtmig and the AsyncSSH/parallel-ssh scripts raise it themselves too); a warning when even
    that is below what the hungriest tool keeps open over max_n hosts (rtmig and the libraries
    hold one socket per host; ansible-core's and OpenSSH's ssh processes hold pipes too)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    need = 2 * max_n + 64
    if soft < need:
        print(f"bench: warning: the open-files limit is {soft} (hard {hard}) but {max_n} hosts need about {need}: "
              f"runs will fail with `Too many open files` (raise it: ulimit -Hn {need})", file=sys.stderr)
    return {"soft": soft, "hard": hard, "needed": need}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.report:
        recs = [json.loads(line) for line in args.report.read_text().splitlines() if line.strip()]
        print(table(recs))
        return 0
    if os.geteuid() != 0:
        raise BenchError("the benchmark creates network namespaces and cgroups: run it as root")
    if not CGROUP:
        raise BenchError("no cgroup v2 hierarchy is mounted; the benchmark measures CPU through it")
    rtmig = find_rtmig(args.rtmig)
    tools = list(args.tools)
    plan = build_plan(args, tools)
    if not plan:
        raise BenchError("nothing to run with these --workloads and --tools")
    max_n = max([c.n for c in plan] + [1])
    nofile = raise_open_files(max_n)
    session = time.strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    RUNS.mkdir(parents=True, exist_ok=True)
    out_path = RESULTS / f"{session}.jsonl"

    def on_term(signum, frame):
        raise KeyboardInterrupt

    # explicitly: a shell that starts us in the background leaves SIGINT ignored
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_term)
    records: list[dict] = []
    header: dict = {}
    fleet_started = False
    try:
        if args.reuse_fleet and (STATE / "size").exists() and int((STATE / "size").read_text()) >= max_n:
            print(f"bench: reusing the fleet in {STATE}", file=sys.stderr)
        else:
            print(f"bench: bringing up {max_n} hosts", file=sys.stderr)
            fleet("up", str(max_n))
        fleet_started = True
        hosts = read_hosts()
        sizes = sorted({max(c.n, 1) for c in plan if c.workload != "W4"} | {1})
        e = Env(rtmig, hosts, {n: write_inventories(hosts, n) for n in sizes}, args.timeout)
        if any(c.workload == "W3" for c in plan) and (not BULK.exists() or BULK.stat().st_size != BULK_MIB << 20):
            print(f"bench: writing the {BULK_MIB} MiB W3 source {BULK}", file=sys.stderr)
            with open(BULK, "wb") as f:
                for _ in range(BULK_MIB):
                    f.write(os.urandom(1 << 20))
            os.chmod(BULK, 0o644)
        excluded = warm_up([t for t in tools], e)
        hostkeys, lax = host_key_check([t for t in tools if t not in excluded], e)
        excluded.update(lax)
        for t, why in excluded.items():
            print(f"bench: leaving out {TOOL_NAMES[t]}: {why}", file=sys.stderr)
        for c in plan:
            for t in list(c.runs):
                base = "openssh" if t in ("scp", "catssh") else t
                if base in excluded:
                    del c.runs[t]
        header = {
            "kind": "session",
            "session": session,
            "argv": argv,
            "versions": tool_versions(rtmig),
            "machine": machine(),
            "excluded": excluded,
            "host_key_check": hostkeys,
            "open_files": nofile,
            "plan": [{"workload": c.workload, "n": c.n, "runs": c.runs} for c in plan],
        }
        with open(out_path, "a") as out:
            out.write(json.dumps(header) + "\n")
        print(f"bench: results go to {out_path}", file=sys.stderr)
        for c in plan:
            if c.workload == "W4":
                if c.runs:
                    rec = run_w4(e, session)
                    records.append(rec)
                    with open(out_path, "a") as out:
                        out.write(json.dumps(rec) + "\n")
                continue
            rounds = max(c.runs.values(), default=0)
            for run in range(1, rounds + 1):
                for t, k in c.runs.items():
                    if run > k:
                        continue
                    rec = run_one(t, c, run, e, session)
                    rec["ncpu"] = NCPU
                    records.append(rec)
                    with open(out_path, "a") as out:
                        out.write(json.dumps(rec) + "\n")
                    status = "ok" if rec["ok"] else f"FAILED: {rec['error']}"
                    print(
                        f"bench: {c.workload} N={rec['n']:<3} {TOOL_NAMES[t]:<12} run {run}: {rec['wall_s']:7.2f} s  "
                        f"ctrl {fmt(rec['ctrl_cpu_s'])} s  host {fmt(rec['host_cpu_s'])} s  "
                        f"rss {rec['peak_tree_rss_kib'] / 1024:.0f} MiB  "
                        f"cmds/host-action {fmt(rec['cmds_per_host_action'])}  {status}",
                        file=sys.stderr,
                    )
        # the W3 copies are 256 MiB each
        for h in hosts[:1]:
            (h.home / "bulk.bin").unlink(missing_ok=True)
    except KeyboardInterrupt:
        print("bench: interrupted; taking the fleet down", file=sys.stderr)
        return 130
    finally:
        empty_trash()
        if fleet_started and not args.keep_fleet:
            fleet("down")
    report = table([header, *records] if header else records)
    md = RESULTS / f"{session}.md"
    md.write_text(
        f"# rtmig benchmark {session}\n\nmachine: {json.dumps(machine())}\n\n"
        f"versions: {json.dumps(tool_versions(rtmig))}\n{report}\n"
    )
    print(report)
    print(f"\nraw results: {out_path}\ntable: {md}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as err:
        print(f"bench: error: {err}", file=sys.stderr)
        sys.exit(1)
