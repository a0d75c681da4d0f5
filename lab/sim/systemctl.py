#!/usr/bin/python3
"""systemctl for a lab host: asks the host's service manager (init.py, PID 1) to act.

Installed as /usr/bin/systemctl on every lab host. Unit-file operations (enable,
disable, mask, unmask, is-enabled, cat, list-unit-files) work on the file system here,
as systemctl does; start/stop/restart/status/is-active and the rest go to PID 1 over
/run/systemd/private. Output, messages and exit codes follow systemctl's: is-active
prints active/inactive/failed/activating and exits 3 when not active; status exits 3
for a stopped unit and 4 for an unknown one; a missing unit is "Unit X not found." (5).

Standard library only: this is a test fixture, not shipped code.
"""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import units as U  # noqa: E402

CONTROL = "/run/systemd/private"
NO_SYSTEMD = ("System has not been booted with systemd as init system (PID 1). Can't operate.\n"
              "Failed to connect to bus: Host is down")


def ask(req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(CONTROL)
    except OSError:
        print(NO_SYSTEMD, file=sys.stderr)
        sys.exit(1)
    s.sendall(json.dumps(req).encode() + b"\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    reply = json.loads(data)
    for line in reply["out"]:
        print(line)
    for line in reply["err"]:
        print(line, file=sys.stderr)
    sys.stdout.flush()
    return reply["rc"]


def parse(argv):
    opts = {"props": [], "lines": 10}
    rest = []
    it = iter(argv)
    for a in it:
        if a in ("--now",):
            opts["now"] = True
        elif a in ("-q", "--quiet"):
            opts["quiet"] = True
        elif a in ("-a", "--all"):
            opts["all"] = True
        elif a == "--value":
            opts["value"] = True
        elif a in ("-p", "--property"):
            opts["props"] += next(it, "").split(",")
        elif a.startswith("--property="):
            opts["props"] += a.split("=", 1)[1].split(",")
        elif a.startswith("-p") and len(a) > 2:
            opts["props"] += a[2:].split(",")
        elif a in ("-n", "--lines"):
            opts["lines"] = int(next(it, "10"))
        elif a.startswith("--lines="):
            opts["lines"] = int(a.split("=", 1)[1])
        elif a in ("-s", "--signal"):
            opts["signal"] = next(it, "TERM")
        elif a.startswith("--signal="):
            opts["signal"] = a.split("=", 1)[1]
        elif a.startswith("--type=") or a.startswith("--state="):
            pass
        elif a in ("-t", "--type", "--state"):
            next(it, None)
        elif a in ("--no-pager", "--no-block", "-l", "--full", "--system", "--no-legend",
                   "--plain", "--no-ask-password", "-f", "--force", "--no-reload"):
            opts[a.lstrip("-")] = True
        elif a.startswith("-") and a != "-":
            print(f"systemctl: unrecognized option '{a}'", file=sys.stderr)
            sys.exit(1)
        else:
            rest.append(a)
    return opts, rest


def main(argv):
    opts, rest = parse(argv)
    if not rest:
        rest = ["list-units"]
    cmd, names = rest[0], [U.unit_name(n) for n in rest[1:]]
    needs_units = {"start", "stop", "restart", "try-restart", "reload", "reload-or-restart",
                   "enable", "disable", "mask", "unmask", "is-enabled", "is-active",
                   "is-failed", "kill", "cat", "condrestart", "force-reload",
                   "try-reload-or-restart"}
    if cmd in needs_units and not names:
        print(f"Too few arguments.", file=sys.stderr)
        return 1
    if cmd in ("enable", "disable", "mask", "unmask", "reenable"):
        msgs, rc = [], 0
        queue = list(names)
        seen = set()
        while queue:
            n = queue.pop(0)
            if n in seen:
                continue
            seen.add(n)
            try:
                if cmd == "enable":
                    queue += U.enable(n, msgs)
                elif cmd == "reenable":
                    U.disable(n, msgs)
                    queue += U.enable(n, msgs)
                elif cmd == "disable":
                    queue += U.disable(n, msgs)
                elif cmd == "mask":
                    U.mask(n, msgs)
                else:
                    U.unmask(n, msgs)
            except U.UnitError as e:
                print(str(e), file=sys.stderr)
                rc = 1
        if not opts.get("quiet"):
            for m in msgs:
                print(m, file=sys.stderr)
        if not opts.get("no-reload"):
            ask({"cmd": "daemon-reload"})
        if rc == 0 and opts.get("now") and cmd in ("enable", "disable", "reenable"):
            verb = "stop" if cmd == "disable" else ("restart" if cmd == "reenable" else "start")
            rc = ask({"cmd": verb, "units": names})
        return rc
    if cmd == "is-enabled":
        rc = 1
        for n in names:
            state, code = U.enablement(n)
            if state == "not-found":
                print(f"Failed to get unit file state for {n}: No such file or directory", file=sys.stderr)
                continue
            if not opts.get("quiet"):
                print(state)
            if code == 0:
                rc = 0
        return rc
    if cmd == "cat":
        rc = 0
        for n in names:
            try:
                _, files = U.load_unit(n)
            except U.UnitError as e:
                print(f"No files found for {n}.", file=sys.stderr)
                rc = 1
                continue
            for f in files:
                print(f"# {f}")
                with open(f) as fh:
                    sys.stdout.write(fh.read())
                print()
        return rc
    if cmd == "list-unit-files":
        print(f"{'UNIT FILE':<40} STATE")
        seen = set()
        for d in U.SEARCH_PATH:
            if os.path.isdir(d):
                for f in sorted(os.listdir(d)):
                    if f.endswith((".service", ".socket")) and f not in seen:
                        seen.add(f)
                        print(f"{f:<40} {U.enablement(f)[0]}")
        return 0
    if cmd in ("daemon-reload", "daemon-reexec"):
        return ask({"cmd": "daemon-reload"})
    req = {"cmd": cmd, "units": names, "quiet": opts.get("quiet", False),
           "props": opts["props"], "value": opts.get("value", False),
           "lines": opts["lines"], "all": opts.get("all", False)}
    if "signal" in opts:
        req["signal"] = opts["signal"]
    if cmd == "status" and not names:
        print("status of the whole system is not modelled in the lab; name a unit", file=sys.stderr)
        return 1
    return ask(req)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
