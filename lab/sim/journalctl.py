#!/usr/bin/python3
"""journalctl for a lab host: reads the per-unit logs that init.py writes.

Supports what operators type: -u UNIT (repeatable), -n/--lines N, -e, -x, -f,
--no-pager, -b, -o cat. Logs live in /var/log/lab-journal/<unit>.log.

Standard library only: this is a test fixture, not shipped code.
"""
import os
import sys
import time

JOURNAL = "/var/log/lab-journal"


def unit_name(n):
    return n if "." in n else n + ".service"


def main(argv):
    units, lines, follow, cat, end = [], None, False, False, False
    it = iter(argv)
    for a in it:
        if a in ("-u", "--unit"):
            units.append(unit_name(next(it, "")))
        elif a.startswith("--unit="):
            units.append(unit_name(a.split("=", 1)[1]))
        elif a.startswith("-u") and len(a) > 2:
            units.append(unit_name(a[2:]))
        elif a in ("-n", "--lines"):
            lines = int(next(it, "10"))
        elif a.startswith("--lines="):
            lines = int(a.split("=", 1)[1])
        elif a.startswith("-n") and a[2:].isdigit():
            lines = int(a[2:])
        elif a in ("-f", "--follow"):
            follow = True
        elif a == "-o":
            cat = next(it, "") == "cat"
        elif a in ("-e", "--pager-end", "-xe", "-xeu", "-eu"):
            end = True
            if a.endswith("u"):
                units.append(unit_name(next(it, "")))
        elif a in ("-x", "--no-pager", "-b", "--boot", "-q", "--quiet", "--no-hostname", "-l", "--full", "-a"):
            pass
        elif a.startswith("--since") or a.startswith("--until"):
            if "=" not in a:
                next(it, None)
    if end and lines is None:
        lines = 1000
    if not units:
        units = sorted(f[:-4] for f in os.listdir(JOURNAL)) if os.path.isdir(JOURNAL) else []
    out = []
    for u in units:
        try:
            with open(f"{JOURNAL}/{u}.log", errors="replace") as f:
                out += f.read().splitlines()
        except OSError:
            pass
    if len(units) > 1:
        out.sort(key=lambda ln: ln[:15])
    if lines is not None:
        out = out[-lines:] if lines else []
    if not out and not follow:
        print("-- No entries --")
    for ln in out:
        print(ln.split(": ", 1)[1] if cat and ": " in ln else ln)
    if follow and len(units) == 1:
        sys.stdout.flush()
        path = f"{JOURNAL}/{units[0]}.log"
        with open(path, errors="replace") as f:
            f.seek(0, 2)
            while True:
                ln = f.readline()
                if ln:
                    sys.stdout.write(ln)
                    sys.stdout.flush()
                else:
                    time.sleep(0.3)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(0)
