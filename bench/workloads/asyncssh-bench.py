"""W1 and W2 with AsyncSSH: one asyncio process, one SSH connection per host, every host at once.

    python asyncssh-bench.py w1|w2 HOSTS_TSV N --key KEY --known-hosts KNOWN_HOSTS [--connect-timeout S]

Run by bench/run.py with the benchmark venv's Python. HOSTS_TSV is the fleet's hosts.tsv
(bench/fleet.sh); the first N hosts take part. Host keys are checked strictly: the fleet's
known_hosts is read once (asyncssh.read_known_hosts) and passed to every connection, so a
host whose key is missing or differs fails its connection (HostKeyNotVerifiable) and the
script exits 2. Each step runs on every host at once and is awaited on all of them before the
next one starts (a barrier, as Ansible's linear strategy and pyinfra do):

  w1   ten `/bin/true`
  w2   render templates/app.conf.j2 with the host's variables (Jinja2, as pyinfra renders it),
       send it on the command's stdin to `cat > tmp && chmod 0644 tmp && mv tmp app.conf`
       (what workloads/openssh.sh does), then `sha256sum /root/app.conf`

Exits 0 when every command on every host succeeded, 2 otherwise (a host that fails is left
out of the later steps and named on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import warnings

# asyncssh imports cryptography's DSA classes, which warn on every start
warnings.filterwarnings("ignore", message="DSA is deprecated")
import asyncssh  # noqa: E402
from jinja2 import Environment, StrictUndefined  # noqa: E402

from anchors import TEMPLATE, UPLOAD, raise_open_files, read_hosts  # noqa: E402


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["w1", "w2"])
    p.add_argument("tsv")
    p.add_argument("n", type=int)
    p.add_argument("--key", required=True)
    p.add_argument("--known-hosts", required=True)
    p.add_argument("--connect-timeout", type=int, default=120, help="seconds (default 120)")
    a = p.parse_args()
    hosts = read_hosts("asyncssh-bench", a.tsv, a.n)
    raise_open_files("asyncssh-bench", a.n)
    known = asyncssh.read_known_hosts(a.known_hosts)
    key = asyncssh.read_private_key(a.key)
    failed: dict[str, str] = {}

    async def connect(h: dict) -> asyncssh.SSHClientConnection:
        return await asyncssh.connect(
            h["address"], username="root", known_hosts=known, client_keys=[key], agent_path=None,
            config=None, preferred_auth="publickey", connect_timeout=a.connect_timeout,
        )

    results = await asyncio.gather(*(connect(h) for h in hosts), return_exceptions=True)
    conns: dict[str, asyncssh.SSHClientConnection] = {}
    for h, r in zip(hosts, results):
        if isinstance(r, BaseException):
            failed[h["name"]] = f"connect: {type(r).__name__}: {r}"
        else:
            conns[h["name"]] = r

    async def step(commands: dict[str, tuple[str, bytes | None]]) -> None:
        """One command per live host, all at once; wait for all (the barrier)."""
        names = [name for name in commands if name in conns]

        async def one(name: str) -> None:
            cmd, data = commands[name]
            await conns[name].run(cmd, input=data, check=True, encoding=None)

        rs = await asyncio.gather(*(one(name) for name in names), return_exceptions=True)
        for name, r in zip(names, rs):
            if isinstance(r, BaseException):
                failed[name] = f"{commands[name][0]}: {type(r).__name__}: {r}"
                conns.pop(name).close()

    if a.mode == "w1":
        for _ in range(10):
            await step({h["name"]: ("/bin/true", None) for h in hosts})
    else:
        env = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
        template = env.from_string(TEMPLATE.read_text())
        await step({
            h["name"]: (UPLOAD, template.render(
                inventory_hostname=h["name"], ansible_host=h["address"], app_port=h["app_port"],
                app_zone=h["app_zone"], app_id=h["app_id"]).encode())
            for h in hosts
        })
        await step({h["name"]: ("sha256sum /root/app.conf", None) for h in hosts})

    for c in conns.values():
        c.close()
    await asyncio.gather(*(c.wait_closed() for c in conns.values()), return_exceptions=True)
    for name, why in sorted(failed.items()):
        print(f"asyncssh-bench: {name}: {why}", file=sys.stderr)
    if failed:
        print(f"asyncssh-bench: {len(failed)} of {a.n} hosts failed", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
