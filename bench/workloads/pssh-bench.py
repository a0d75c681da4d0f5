"""W1 and W2 with parallel-ssh's libssh2 client (pssh.clients.ParallelSSHClient): one process
(gevent), one SSH connection per host, every host at once.

    python pssh-bench.py w1|w2 HOSTS_TSV N --key KEY --known-hosts KNOWN_HOSTS [--connect-timeout S]

Run by bench/run.py with the benchmark venv's Python. HOSTS_TSV is the fleet's hosts.tsv
(bench/fleet.sh); the first N hosts take part. Each step runs on every host at once
(pool_size = N) and is joined on all of them before the next one starts (a barrier):

  w1   ten `/bin/true`
  w2   render templates/app.conf.j2 with the host's variables (Jinja2, as pyinfra renders it),
       write it to the stdin of `cat > tmp && chmod 0644 tmp && mv tmp app.conf` (what
       workloads/openssh.sh does) and send EOF, then `sha256sum /root/app.conf`

Host keys. parallel-ssh's native client checks none: it hands the socket to libssh2's
handshake and authenticates whatever answered. Here every connection is checked between the
handshake and authentication: `_init_session` (pssh.clients.native.single.SSHClient, which
runs `session.handshake`) is extended to compare `session.hostkey()` -- the server's public
key blob, as sent in the key exchange -- byte for byte with the base64-decoded key(s) that the
fleet's known_hosts lists for the host's address (the file is read once, before any
connection). A host that is missing or whose key differs raises HostKeyMismatch there, before
the client key is offered, and the script exits 2. ParallelSSHClient builds its clients
through the module-level name `pssh.clients.native.parallel.SSHClient`, which is pointed at
the checking subclass.

Exits 0 when every command on every host succeeded, 2 otherwise (the first step in which some
host fails is the last one; the failed hosts are named on stderr).
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

import pssh.clients.native.parallel as native_parallel
from jinja2 import Environment, StrictUndefined
from pssh.clients import ParallelSSHClient
from pssh.clients.native.single import SSHClient

from anchors import TEMPLATE, UPLOAD, raise_open_files, read_hosts  # noqa: E402


class HostKeyMismatch(Exception):
    """The host's key is not the one known_hosts lists for it (or it is not listed)."""


KNOWN: dict[str, set[bytes]] = {}


def read_known_hosts(path: str) -> dict[str, set[bytes]]:
    """Plain OpenSSH known_hosts lines `host[,host...] keytype base64`: address -> key blobs.
    (bench/fleet.sh writes one plain line per host; hashed names and markers are not used.)"""
    known: dict[str, set[bytes]] = {}
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith(("#", "@", "|")):
            continue
        blob = base64.b64decode(fields[2])
        for name in fields[0].split(","):
            known.setdefault(name, set()).add(blob)
    return known


class CheckedSSHClient(SSHClient):
    """SSHClient that verifies the server's host key right after the handshake."""

    def _init_session(self, retries=1):
        super()._init_session(retries=retries)
        blob, _key_type = self.session.hostkey()
        if bytes(blob) not in KNOWN.get(self.host, ()):
            listed = "a different key" if self.host in KNOWN else "no key"
            raise HostKeyMismatch(f"host key of {self.host} does not match: known_hosts lists {listed} for it")


native_parallel.SSHClient = CheckedSSHClient


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["w1", "w2"])
    p.add_argument("tsv")
    p.add_argument("n", type=int)
    p.add_argument("--key", required=True)
    p.add_argument("--known-hosts", required=True)
    p.add_argument("--connect-timeout", type=int, default=120, help="seconds (default 120)")
    a = p.parse_args()
    hosts = read_hosts("pssh-bench", a.tsv, a.n)
    raise_open_files("pssh-bench", a.n)
    KNOWN.update(read_known_hosts(a.known_hosts))
    by_address = {h["address"]: h for h in hosts}
    client = ParallelSSHClient(
        [h["address"] for h in hosts], user="root", pkey=a.key, allow_agent=False, identity_auth=False,
        pool_size=a.n, num_retries=1, timeout=a.connect_timeout,
    )

    def step(command: str, stdin: dict[str, bytes] | None = None) -> dict[str, str]:
        """`command` on every host at once, then join them all; the hosts that failed."""
        output = client.run_command(command, stop_on_errors=False)
        failed: dict[str, str] = {}
        for out in output:
            if out.exception is not None:
                failed[out.host] = f"{type(out.exception).__name__}: {out.exception}"
            elif stdin is not None:
                out.stdin.write(stdin[out.host])
                out.stdin.flush()
                out.client.eagain(out.channel.send_eof)
        live = [out for out in output if out.exception is None]
        client.join(live, consume_output=True)
        for out in live:
            if out.exit_code != 0:
                failed[out.host] = f"`{command}` exited {out.exit_code}"
        return failed

    steps: list[tuple[str, dict[str, bytes] | None]]
    if a.mode == "w1":
        steps = [("/bin/true", None)] * 10
    else:
        env = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
        template = env.from_string(TEMPLATE.read_text())
        rendered = {
            h["address"]: template.render(
                inventory_hostname=h["name"], ansible_host=h["address"], app_port=h["app_port"],
                app_zone=h["app_zone"], app_id=h["app_id"]).encode()
            for h in hosts
        }
        steps = [(UPLOAD, rendered), ("sha256sum /root/app.conf", None)]
    for command, stdin in steps:
        failed = step(command, stdin)
        if failed:
            for address, why in sorted(failed.items()):
                print(f"pssh-bench: {by_address[address]['name']} ({address}): {why}", file=sys.stderr)
            print(f"pssh-bench: {len(failed)} of {a.n} hosts failed", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
