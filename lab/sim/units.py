"""systemd unit files as systemd reads them: search paths, drop-ins, masking, syntax.

Shared by the service manager (init.py, PID 1 of a lab host) and the systemctl stand-in.
Only what the lab's units and the migration touch is modelled, but that part follows
systemd.unit(5), systemd.service(5), systemd.socket(5) and systemd.exec(5):

- search path, highest precedence first: /etc/systemd/system, /run/systemd/system,
  /usr/local/lib/systemd/system, /usr/lib/systemd/system (/lib is /usr/lib on Debian 12);
- drop-ins `<unit>.d/*.conf` from every directory of the path, ordered by file name, a
  file in a higher-precedence directory hiding one of the same name below;
- a unit file that is a symlink to /dev/null is masked;
- `Key=` with an empty value resets list settings (how `ExecStart=` is overridden);
- `Environment=` takes several quoted assignments; `EnvironmentFile=-path` may be missing;
- in `ExecStart=`, a word that is exactly `$VAR` becomes the value split at whitespace,
  `${VAR}` is replaced inside its word without splitting.

Standard library only: this is a test fixture, not shipped code.
"""
import os
import re
import shlex

SEARCH_PATH = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
]
# Settings that accumulate (a repeated key appends, an empty value resets).
LIST_KEYS = {
    "ExecStart", "ExecStartPre", "ExecStartPost", "ExecStop", "ExecStopPost", "ExecReload",
    "Environment", "EnvironmentFile", "Requires", "Wants", "BindsTo", "After", "Before",
    "WantedBy", "RequiredBy", "Also", "ListenStream", "RuntimeDirectory", "Conflicts",
    "PartOf", "Requisite", "RestartPreventExitStatus", "Alias",
}


class UnitError(Exception):
    pass


def unit_name(arg):
    """`docker` -> `docker.service`; names with a known suffix stay as they are."""
    if re.search(r"\.(service|socket|target|timer|mount|path|slice|scope)$", arg):
        return arg
    return arg + ".service"


def find_unit_file(name, root=""):
    for d in SEARCH_PATH:
        p = root + d + "/" + name
        if os.path.lexists(p):
            return p
    return None


def is_masked(name, root=""):
    p = find_unit_file(name, root)
    return p is not None and os.path.islink(p) and os.path.realpath(p) == "/dev/null"


def dropin_files(name, root=""):
    """Drop-in files in the order systemd applies them (by file name)."""
    chosen = {}
    for d in reversed(SEARCH_PATH):  # lowest precedence first; higher ones overwrite
        dd = root + d + "/" + name + ".d"
        if os.path.isdir(dd):
            for f in os.listdir(dd):
                if f.endswith(".conf"):
                    chosen[f] = dd + "/" + f
    return [chosen[k] for k in sorted(chosen)]


def parse_unit_text(text, sections=None):
    """Parse unit-file syntax into {section: {key: value or [values]}}."""
    sections = sections if sections is not None else {}
    current = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        if key in LIST_KEYS:
            if value == "":
                current[key] = []
            else:
                current.setdefault(key, []).append(value)
        else:
            current[key] = value
    return sections


def load_unit(name, root=""):
    """Return (sections, files) for a unit, or raise UnitError when it does not exist."""
    path = find_unit_file(name, root)
    drops = dropin_files(name, root)
    if path is None:
        raise UnitError(f"Unit {name} not found.")
    if os.path.islink(path) and os.path.realpath(path) == "/dev/null":
        raise UnitError(f"Unit {name} is masked.")
    sections = {}
    files = [path] + drops
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            parse_unit_text(fh.read(), sections)
    return sections, files


def fingerprint(name, root=""):
    """What `daemon-reload` compares: the unit file and drop-ins with their mtimes."""
    path = find_unit_file(name, root)
    files = ([path] if path else []) + dropin_files(name, root)
    out = []
    for f in files:
        try:
            st = os.stat(f)
            out.append((f, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((f, 0, 0))
    return out


def words(values):
    out = []
    for v in values or []:
        out.extend(v.split())
    return out


def parse_environment(values):
    env = {}
    for v in values or []:
        for item in shlex.split(v):
            if "=" in item:
                k, val = item.split("=", 1)
                env[k] = val
    return env


def read_environment_file(path):
    """An EnvironmentFile= as systemd reads it (src/basic/env-file.c): `#`/`;` comments,
    values unquoted, 'single' or "double" quoted (quotes may span lines), a backslash
    before a newline joins the lines (Kubespray's kubelet.env relies on it), trailing
    unquoted whitespace dropped."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    env = {}
    state, key, value, trim = "pre_key", "", "", None

    def push():
        k = key.strip()
        if k.startswith("export "):
            k = k[7:].strip()
        if k:
            env[k] = value if trim is None else value[:trim]

    for c in text + "\n":
        if state == "pre_key":
            if c in "#;":
                state = "comment"
            elif not c.isspace():
                state, key, value, trim = "key", c, "", None
        elif state == "key":
            if c == "\n":
                state = "pre_key"
            elif c == "=":
                state = "pre_value"
            else:
                key += c
        elif state == "pre_value":
            if c == "\n":
                push()
                state = "pre_key"
            elif c.isspace():
                pass
            elif c == "'":
                state = "single"
            elif c == '"':
                state = "double"
            elif c == "\\":
                state = "value_escape"
            else:
                state, value = "value", value + c
        elif state == "value":
            if c == "\n":
                push()
                state = "pre_key"
            elif c == "\\":
                state = "value_escape"
            elif c == "'":
                state, trim = "single", None
            elif c == '"':
                state, trim = "double", None
            else:
                if c.isspace():
                    trim = len(value) if trim is None else trim
                else:
                    trim = None
                value += c
        elif state == "value_escape":
            state = "value"
            if c != "\n":
                value, trim = value + c, None
        elif state == "single":
            if c == "'":
                state = "value"
            else:
                value += c
        elif state == "double":
            if c == '"':
                state = "value"
            elif c == "\\":
                state = "double_escape"
            else:
                value += c
        elif state == "double_escape":
            state = "double"
            if c in '"\\`$':
                value += c
            elif c != "\n":
                value += "\\" + c
        elif state == "comment":
            if c == "\\":
                state = "comment_escape"
            elif c == "\n":
                state = "pre_key"
        elif state == "comment_escape":
            state = "comment"
    if state in ("single", "double", "double_escape"):
        push()
    return env


def expand_exec(line, env):
    """Split an Exec line into (prefix flags, argv) with systemd's variable expansion."""
    flags = ""
    while line and line[0] in "-@+!:":
        flags += line[0]
        line = line[1:]
    out = []
    var_re = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
    for tok in shlex.split(line, posix=True):
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", tok)
        if m:
            out.extend(env.get(m.group(1), "").split())
            continue
        tok = var_re.sub(lambda mm: env.get(mm.group(1) or mm.group(2), ""), tok)
        if tok != "":
            out.append(tok)
    return flags, out


def parse_seconds(value, default):
    """`10`, `10s`, `100ms`, `1min`, `infinity`, `0` -> seconds (float)."""
    if value is None:
        return default
    v = value.strip()
    if v in ("infinity", "0"):
        return None  # no limit
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)\s*([a-z]*)", v):
        n = float(num)
        mult = {"": 1, "s": 1, "sec": 1, "ms": 0.001, "msec": 0.001, "m": 60, "min": 60,
                "h": 3600, "hr": 3600, "us": 1e-6}.get(unit, 1)
        total += n * mult
    return total


# ---- enablement: symlinks under /etc/systemd/system, as systemctl makes them ----------
ETC = "/etc/systemd/system"


def _wants_links(name, root=""):
    found = []
    for base in (root + ETC, root + "/usr/lib/systemd/system"):
        if not os.path.isdir(base):
            continue
        for d in os.listdir(base):
            if d.endswith(".wants") or d.endswith(".requires"):
                p = f"{base}/{d}/{name}"
                if os.path.lexists(p):
                    found.append(p)
    return found


def enablement(name, root=""):
    """(state, exit code) as `systemctl is-enabled` prints and returns them."""
    p = find_unit_file(name, root)
    if p is None:
        return "not-found", 1
    if os.path.islink(p) and os.path.realpath(p) == "/dev/null":
        return "masked", 1
    if _wants_links(name, root):
        return "enabled", 0
    try:
        sections, _ = load_unit(name, root)
    except UnitError:
        return "bad", 1
    inst = sections.get("Install", {})
    if not (inst.get("WantedBy") or inst.get("RequiredBy") or inst.get("Also") or inst.get("Alias")):
        return "static", 0
    return "disabled", 1


def enable(name, messages, root=""):
    """Create the [Install] symlinks; returns names from Also= to enable too."""
    p = find_unit_file(name, root)
    if p is None:
        raise UnitError(f"Failed to enable unit: Unit file {name} does not exist.")
    if os.path.islink(p) and os.path.realpath(p) == "/dev/null":
        raise UnitError(f"Failed to enable unit: Unit file {ETC}/{name} is masked.")
    sections, _ = load_unit(name, root)
    inst = sections.get("Install", {})
    target_path = p[len(root):]
    for key, suffix in (("WantedBy", ".wants"), ("RequiredBy", ".requires")):
        for t in words(inst.get(key)):
            d = f"{root}{ETC}/{t}{suffix}"
            os.makedirs(d, exist_ok=True)
            link = f"{d}/{name}"
            if not os.path.lexists(link):
                os.symlink(target_path, link)
                messages.append(f"Created symlink {ETC}/{t}{suffix}/{name} \u2192 {target_path}.")
    also = [unit_name(a) for a in words(inst.get("Also"))]
    if not (inst.get("WantedBy") or inst.get("RequiredBy") or also):
        messages.append(
            f"The unit files have no installation config (WantedBy=, RequiredBy=, Also=,\n"
            f"Alias= settings in the [Install] section, and DefaultInstance= for template\n"
            f"units). This means they are not meant to be enabled using systemctl.")
    return also


def disable(name, messages, root=""):
    p = find_unit_file(name, root)
    if p is None:
        raise UnitError(f"Failed to disable unit: Unit file {name} does not exist.")
    for link in _wants_links(name, root):
        if link.startswith(root + ETC):
            os.unlink(link)
            messages.append(f"Removed \"{link[len(root):]}\".")
    try:
        sections, _ = load_unit(name, root)
        return [unit_name(a) for a in words(sections.get("Install", {}).get("Also"))]
    except UnitError:
        return []


def mask(name, messages, root=""):
    link = f"{root}{ETC}/{name}"
    if os.path.lexists(link):
        if os.path.islink(link) and os.path.realpath(link) == "/dev/null":
            return
        raise UnitError(f"Failed to mask unit: File {ETC}/{name} already exists.")
    os.symlink("/dev/null", link)
    messages.append(f"Created symlink {ETC}/{name} \u2192 /dev/null.")


def unmask(name, messages, root=""):
    link = f"{root}{ETC}/{name}"
    if os.path.islink(link) and os.path.realpath(link) == "/dev/null":
        os.unlink(link)
        messages.append(f"Removed \"{ETC}/{name}\".")
