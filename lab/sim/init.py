#!/usr/bin/python3
"""PID 1 of a lab host: its mounts and hostname, then a small systemd.

lab.sh starts one of these per host inside fresh network, UTS, mount and PID namespaces.
It first lays out the host's file system (overlays over /etc, /usr, /var, /opt and
per-host binds over /run, /tmp, /root, /var/lib/docker, /var/lib/containerd, all named
in host.json), sets the hostname, then becomes the host's service manager:

- units are read as systemd reads them (units.py), cached until `daemon-reload`, with
  systemd's warning when a unit file changed on disk since;
- Type=simple/exec/notify/oneshot services run as real processes (notify through a real
  NOTIFY_SOCKET, so `systemctl start docker` returns when dockerd says READY=1);
- .socket units listen for real and hand their sockets over (LISTEN_FDS), and a
  connection to a listening socket whose service is down starts the service, as
  docker.socket does;
- Requires=/BindsTo=/Wants=/After=, Restart=, RestartSec=, StartLimitBurst=,
  ExecStartPre=/ExecStop=/ExecReload=, KillMode=, ConditionPathExists=, RuntimeDirectory=;
- each unit's output goes to /var/log/lab-journal/<unit>.log in journal format,
  which the journalctl stand-in reads;
- at boot it starts what /etc/systemd/system/{sockets,multi-user}.target.wants name.

systemctl (systemctl.py) talks to it over /run/systemd/private, one JSON request per
connection. As PID 1 of the host's PID namespace it also reaps orphans; when it dies
the kernel kills every process of the host, which is how `lab.sh down` stops a host.

Standard library only: this is a test fixture, not shipped code.
"""
import errno
import fcntl
import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import units as U  # noqa: E402

CONTROL = "/run/systemd/private"
JOURNAL = "/var/log/lab-journal"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STOP_TIMEOUT_CAP = 30.0
START_TIMEOUT_CAP = 120.0
HOSTNAME = "localhost"


def now():
    return time.time()


def stamp(t=None):
    return time.strftime("%b %d %H:%M:%S", time.localtime(t or now()))


def exit_text(status):
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        names = {0: "SUCCESS", 1: "FAILURE", 2: "INVALIDARGUMENT", 203: "EXEC", 255: "EXCEPTION"}
        return "exited", code, f"{code}/{names.get(code, 'n/a')}"
    sig = os.WTERMSIG(status)
    try:
        name = signal.Signals(sig).name[3:]
    except ValueError:
        name = str(sig)
    return "killed", sig, f"{sig}/{name}"


class Out:
    """Collects what a request prints; sent back to systemctl at the end."""

    def __init__(self):
        self.out, self.err = [], []

    def o(self, s):
        self.out.append(s)

    def e(self, s):
        self.err.append(s)


class Unit:
    def __init__(self, name):
        self.name = name
        self.kind = name.rsplit(".", 1)[-1]
        self.sections = {}
        self.files = []
        self.fp = []
        self.active = "inactive"
        self.sub = "dead"
        self.main_pid = 0
        self.result = "success"
        self.exit = None  # (code kind, number, text)
        self.since = None
        self.starts = []
        self.restart_gen = 0
        self.ready = False
        self.fds = []  # listening sockets of a .socket unit
        self.paths = []
        self.trigger_block = 0.0
        self.stopping = False
        self.busy = threading.Lock()  # one job at a time per unit

    def get(self, section, key, default=None):
        return self.sections.get(section, {}).get(key, default)

    @property
    def svc(self):
        return self.sections.get("Service", {})


class Manager:
    def __init__(self):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.units = {}
        self.watch = {}  # pid -> callback(status)
        os.makedirs(JOURNAL, exist_ok=True)

    # ---- logging -----------------------------------------------------------------
    def log(self, unit, msg, ident="systemd[1]"):
        line = f"{stamp()} {HOSTNAME} {ident}: {msg}\n"
        try:
            with open(f"{JOURNAL}/{unit}.log", "a") as f:
                f.write(line)
        except OSError:
            pass

    def pump(self, unit, fd, ident):
        """Copy a child's output into the unit's journal, a line at a time."""
        buf = b""
        with open(f"{JOURNAL}/{unit}.log", "ab", buffering=0) as f:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                if lines:
                    pre = f"{stamp()} {HOSTNAME} {ident}: ".encode()
                    f.write(b"".join(pre + ln + b"\n" for ln in lines))
            if buf:
                f.write(f"{stamp()} {HOSTNAME} {ident}: ".encode() + buf + b"\n")
        os.close(fd)

    # ---- units -------------------------------------------------------------------
    def get_unit(self, name, load=True):
        with self.lock:
            u = self.units.get(name)
            if u is None:
                u = Unit(name)
                self.units[name] = u
            if load and not u.files:
                self.reload_unit(u)
            return u

    def reload_unit(self, u):
        sections, files = U.load_unit(u.name)  # raises UnitError
        u.sections, u.files, u.fp = sections, files, U.fingerprint(u.name)

    def changed_on_disk(self, u):
        return bool(u.files) and U.fingerprint(u.name) != u.fp

    def daemon_reload(self):
        with self.lock:
            for u in list(self.units.values()):
                try:
                    self.reload_unit(u)
                except U.UnitError:
                    if u.active in ("inactive", "failed"):
                        del self.units[u.name]

    # ---- processes ---------------------------------------------------------------
    def spawn(self, u, argv, env, ident, listen_fds=(), on_exit=None, main=False):
        """fork+exec a process of unit `u`; returns (pid, exec_error or None)."""
        r_out, w_out = os.pipe()
        r_err, w_err = os.pipe()  # exec failure report, closed on exec
        os.set_inheritable(w_out, True)
        svc = u.svc
        cwd = svc.get("WorkingDirectory", "/")
        with self.lock:
            pid = os.fork()
            if pid == 0:  # child: no locks, no imports, just set up and exec
                try:
                    os.setsid()
                    # Move what we keep above the low numbers before dup2 reuses them.
                    w_err = fcntl.fcntl(w_err, fcntl.F_DUPFD_CLOEXEC, 1000)
                    w_out = fcntl.fcntl(w_out, fcntl.F_DUPFD_CLOEXEC, 1000)
                    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 1000) for fd in listen_fds]
                    devnull = os.open("/dev/null", os.O_RDONLY)
                    os.dup2(devnull, 0)
                    os.dup2(w_out, 1)
                    os.dup2(w_out, 2)
                    env2 = dict(env)
                    for i, fd in enumerate(high):
                        os.dup2(fd, 3 + i)
                    if high:
                        env2["LISTEN_FDS"] = str(len(high))
                        env2["LISTEN_PID"] = str(os.getpid())
                    keep = 3 + len(high)
                    os.closerange(keep, w_err)
                    os.closerange(w_err + 1, 65536)
                    oom = svc.get("OOMScoreAdjust")
                    if oom:
                        try:
                            with open("/proc/self/oom_score_adj", "w") as f:
                                f.write(oom)
                        except OSError:
                            pass
                    try:
                        os.chdir(cwd.lstrip("-") or "/")
                    except OSError:
                        os.chdir("/")
                    os.execve(argv[0], argv, env2)
                except OSError as e:
                    try:
                        os.write(w_err, str(e.errno).encode() + b" " + e.strerror.encode())
                    except Exception:
                        pass
                    os._exit(203)
                except BaseException:
                    os._exit(203)
            if on_exit:
                self.watch[pid] = on_exit
            if main:  # set before the reaper can see this pid exit
                u.main_pid = pid
        os.close(w_out)
        os.close(w_err)
        err = b""
        while True:
            try:
                chunk = os.read(r_err, 512)
            except InterruptedError:
                continue
            if not chunk:
                break
            err += chunk
        os.close(r_err)
        threading.Thread(target=self.pump, args=(u.name, r_out, f"{ident}[{pid}]"), daemon=True).start()
        return pid, (err.decode(errors="replace").split(" ", 1)[1] if err else None)

    def run_control(self, u, argv, env, timeout=90.0):
        """Run an ExecStartPre=/ExecStop=-style command to completion; returns status."""
        done = threading.Event()
        box = {}

        def fin(status):
            box["status"] = status
            done.set()

        if not argv or not os.path.isabs(argv[0]):
            self.log(u.name, f"{u.name}: Exec path is not absolute: {argv[:1]}")
            return 203 << 8
        pid, err = self.spawn(u, argv, env, os.path.basename(argv[0]), on_exit=fin)
        if err:
            self.log(u.name, f"{u.name}: Failed to execute {argv[0]}: {err}")
        if not done.wait(timeout):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            done.wait(5)
        return box.get("status", 9)

    def reaper(self):
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                time.sleep(0.05)
                continue
            except InterruptedError:
                continue
            with self.lock:
                cb = self.watch.pop(pid, None)
            if cb:
                try:
                    cb(status)
                except Exception as e:  # a bug here must not kill PID 1
                    print(f"init: exit callback for {pid} failed: {e}", file=sys.stderr)

    # ---- environment -------------------------------------------------------------
    def unit_env(self, u):
        env = {"PATH": BASE_PATH, "LANG": "C.UTF-8", "HOME": "/root", "USER": "root",
               "INVOCATION_ID": os.urandom(16).hex()}
        env.update(U.parse_environment(u.svc.get("Environment")))
        for spec in u.svc.get("EnvironmentFile", []):
            optional = spec.startswith("-")
            path = spec.lstrip("-")
            try:
                env.update(U.read_environment_file(path))
            except OSError:
                if not optional:
                    raise U.UnitError(f"Failed to load environment files: {path}")
        return env

    # ---- start -------------------------------------------------------------------
    def deps(self, u, *keys):
        out = []
        for k in keys:
            for n in U.words(u.get("Unit", k)):
                out.append(U.unit_name(n))
        return out

    def start(self, name, out, as_dep=False):
        try:
            u = self.get_unit(name)
        except U.UnitError as e:
            out.e(f"Failed to start {name}: {e}")
            return 5
        if self.changed_on_disk(u) and not as_dep:
            out.e(f"Warning: The unit file, source configuration file or drop-ins of {name} "
                  "changed on disk. Run 'systemctl daemon-reload' to reload units.")
        for dep in self.deps(u, "Requires", "BindsTo", "Requisite"):
            rc = self.start(dep, Out(), as_dep=True)
            if rc != 0:
                self.log(u.name, f"Dependency failed for {self.description(u)}.")
                self.log(u.name, f"{u.name}: Job {u.name}/start failed with result 'dependency'.")
                out.e(f"A dependency job for {name} failed. See 'journalctl -xe' for details.")
                return 1
        for dep in self.deps(u, "Wants"):
            self.start(dep, Out(), as_dep=True)
        with u.busy:
            return self._start_locked(u, out)

    def _start_locked(self, u, out):
        with self.lock:
            if u.active == "active" or (u.active == "activating" and u.sub != "auto-restart"):
                return 0
            u.restart_gen += 1  # cancels a pending auto-restart
        if u.kind == "target":
            self.set_state(u, "active", "active")
            return 0
        cond = u.get("Unit", "ConditionPathExists")
        if cond:
            neg = cond.startswith("!")
            exists = os.path.exists(cond.lstrip("!"))
            if exists == neg:
                self.log(u.name, f"{self.description(u)} was skipped because of an unmet condition check (ConditionPathExists={cond}).")
                return 0
        if u.kind == "socket":
            return self.start_socket(u, out)
        if u.kind != "service":
            self.set_state(u, "active", "active")
            return 0
        return self.start_service(u, out)

    def description(self, u):
        return u.get("Unit", "Description", u.name)

    def set_state(self, u, active, sub):
        with self.cond:
            if (u.active == "active") != (active == "active"):
                u.since = now()
            elif u.since is None:
                u.since = now()
            u.active, u.sub = active, sub
            self.cond.notify_all()

    def fail_job(self, u, out, result):
        u.result = result
        self.set_state(u, "failed", "failed")
        self.log(u.name, f"{u.name}: Failed with result '{result}'.")
        self.log(u.name, f"Failed to start {self.description(u)}.")
        if out is not None:
            out.e(f"Job for {u.name} failed because the control process exited with error code.\n"
                  f"See \"systemctl status {u.name}\" and \"journalctl -xeu {u.name}\" for details.")
        return 1

    def start_limit_hit(self, u):
        interval = U.parse_seconds(u.get("Unit", "StartLimitIntervalSec",
                                         u.svc.get("StartLimitInterval")), 10.0) or 0
        burst = int(u.get("Unit", "StartLimitBurst", u.svc.get("StartLimitBurst", "5")))
        t = now()
        u.starts = [s for s in u.starts if t - s < interval]
        if interval and len(u.starts) >= burst:
            return True
        u.starts.append(t)
        return False

    def start_service(self, u, out):
        svc = u.svc
        if self.start_limit_hit(u):
            self.log(u.name, f"{u.name}: Start request repeated too quickly.")
            return self.fail_job(u, out, "start-limit-hit")
        u.stopping = False
        u.ready = False
        u.result = "success"
        self.set_state(u, "activating", "start-pre")
        self.log(u.name, f"Starting {self.description(u)}...")
        try:
            env = self.unit_env(u)
        except U.UnitError as e:
            self.log(u.name, f"{u.name}: {e}")
            return self.fail_job(u, out, "resources")
        for d in U.words(svc.get("RuntimeDirectory")):
            os.makedirs("/run/" + d, exist_ok=True)
            os.chmod("/run/" + d, int(svc.get("RuntimeDirectoryMode", "0755"), 8))
        for line in svc.get("ExecStartPre", []):
            flags, argv = U.expand_exec(line, env)
            status = self.run_control(u, argv, env)
            if status != 0 and "-" not in flags:
                kind, num, text = exit_text(status)
                self.log(u.name, f"{u.name}: Control process exited, code={kind}, status={text}")
                return self.fail_job(u, out, "exit-code")
        execs = svc.get("ExecStart", [])
        if not execs:
            self.log(u.name, f"{u.name}: Service has no ExecStart= setting. Refusing.")
            return self.fail_job(u, out, "resources")
        typ = svc.get("Type", "simple")
        flags, argv = U.expand_exec(execs[-1], env)
        if typ == "notify":
            env["NOTIFY_SOCKET"] = self.notify_socket(u)
        listen = []
        sock = self.units.get(svc.get("Sockets", u.name[: -len(".service")] + ".socket"))
        if sock is not None and sock.active == "active" and sock.fds:
            listen = [s.fileno() for s in sock.fds]
        self.set_state(u, "activating", "start")
        gen = u.restart_gen
        if not argv or not os.path.isabs(argv[0]):
            self.log(u.name, f"{u.name}: Executable path is not absolute, ignoring: {execs[-1]}")
            return self.fail_job(u, out, "resources")
        pid, err = self.spawn(u, argv, env, os.path.basename(argv[0]), listen,
                              on_exit=lambda st, u=u, gen=gen: self.main_exited(u, st, gen), main=True)
        if err:
            self.log(u.name, f"{u.name}: Failed to execute {argv[0]}: {err}")
            self.log(u.name, f"{u.name}: Failed at step EXEC spawning {argv[0]}: {err}")
        if typ == "oneshot":
            with self.cond:
                self.cond.wait_for(lambda: u.main_pid != pid or u.active != "activating", START_TIMEOUT_CAP)
            if u.active == "failed":
                return self.fail_job(u, out, u.result)
            if svc.get("RemainAfterExit", "no") in ("yes", "true", "1"):
                self.set_state(u, "active", "exited")
            return 0
        if typ == "notify":
            limit = U.parse_seconds(svc.get("TimeoutStartSec", svc.get("TimeoutSec")), 90.0)
            limit = min(limit or START_TIMEOUT_CAP, START_TIMEOUT_CAP)
            with self.cond:
                self.cond.wait_for(lambda: u.ready or u.main_pid != pid or u.active != "activating", limit)
                ok = u.ready and u.main_pid == pid
            if not ok:
                if u.active == "activating" and u.main_pid == pid and u.sub == "start":
                    self.log(u.name, f"{u.name}: start operation timed out. Terminating.")
                    self.kill(u, signal.SIGKILL)
                with self.cond:
                    self.cond.wait_for(lambda: u.active != "activating" or u.sub == "auto-restart", 10)
                if out is not None:
                    out.e(f"Job for {u.name} failed because the control process exited with error code.\n"
                          f"See \"systemctl status {u.name}\" and \"journalctl -xeu {u.name}\" for details.")
                return 1
        else:
            with self.cond:
                if u.main_pid == pid and u.active == "activating":
                    u.active, u.sub, u.since = "active", "running", now()
                    self.cond.notify_all()
        self.log(u.name, f"Started {self.description(u)}.")
        for line in svc.get("ExecStartPost", []):
            _, a = U.expand_exec(line, env)
            self.run_control(u, a, env)
        return 0

    def notify_socket(self, u):
        os.makedirs("/run/systemd/notify", exist_ok=True)
        path = f"/run/systemd/notify/{u.name}"
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)

        def listen(s=s, u=u):
            s.settimeout(1.0)
            deadline = now() + START_TIMEOUT_CAP
            while now() < deadline:
                try:
                    data = s.recv(4096).decode(errors="replace")
                except socket.timeout:
                    if u.active not in ("activating",):
                        break
                    continue
                except OSError:
                    break
                if "READY=1" in data.split("\n"):
                    with self.cond:
                        u.ready = True
                        if u.active == "activating":
                            u.active, u.sub, u.since = "active", "running", now()
                        self.cond.notify_all()
                    break
            s.close()

        threading.Thread(target=listen, daemon=True).start()
        return path

    def main_exited(self, u, status, gen):
        kind, num, text = exit_text(status)
        with self.cond:
            if u.main_pid == 0:
                return
            u.exit = (kind, num, text)
            u.main_pid = 0
            self.log(u.name, f"{u.name}: Main process exited, code={kind}, status={text}")
            if u.stopping:
                self.cond.notify_all()
                return
            failure = not (kind == "exited" and num == 0)
            prevent = U.words(u.svc.get("RestartPreventExitStatus"))
            restart = u.svc.get("Restart", "no")
            do_restart = (restart == "always" or
                          (restart == "on-failure" and failure) or
                          (restart == "on-abnormal" and kind == "killed")) and \
                str(num) not in prevent and gen == u.restart_gen
            if failure:
                u.result = "exit-code" if kind == "exited" else "signal"
            if do_restart:
                u.active, u.sub = "activating", "auto-restart"
                if failure:
                    self.log(u.name, f"{u.name}: Failed with result '{u.result}'.")
                delay = U.parse_seconds(u.svc.get("RestartSec"), 0.1) or 0.1
                u.restart_gen += 1
                mygen = u.restart_gen
                self.cond.notify_all()
                threading.Thread(target=self.auto_restart, args=(u, delay, mygen), daemon=True).start()
            else:
                if failure:
                    u.active, u.sub = "failed", "failed"
                    self.log(u.name, f"{u.name}: Failed with result '{u.result}'.")
                else:
                    u.active, u.sub = "inactive", "dead"
                    self.log(u.name, f"{u.name}: Deactivated successfully.")
                u.since = now()
                self.cond.notify_all()
        if u.active in ("failed", "inactive"):
            for other in list(self.units.values()):
                if u.name in self.deps(other, "BindsTo") and other.active == "active":
                    threading.Thread(target=self.stop, args=(other.name, Out()), daemon=True).start()

    def auto_restart(self, u, delay, gen):
        time.sleep(delay)
        with self.lock:
            if u.restart_gen != gen or u.sub != "auto-restart":
                return
        n = len(u.starts)
        self.log(u.name, f"{u.name}: Scheduled restart job, restart counter is at {n}.")
        with u.busy:
            with self.lock:
                if u.restart_gen != gen or u.sub != "auto-restart":
                    return
            self.start_service(u, None)

    # ---- sockets -----------------------------------------------------------------
    def start_socket(self, u, out):
        sec = u.sections.get("Socket", {})
        fds, paths = [], []
        for listen in sec.get("ListenStream", []):
            listen = listen.replace("%t", "/run")  # systemd's specifier for the runtime directory
            if not listen.startswith("/"):
                continue  # only unix sockets in the lab
            try:
                os.unlink(listen)
            except FileNotFoundError:
                pass
            os.makedirs(os.path.dirname(listen), exist_ok=True)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(listen)
            s.listen(128)
            os.set_inheritable(s.fileno(), True)
            mode = sec.get("SocketMode")
            if mode:
                os.chmod(listen, int(mode, 8))
            grp = sec.get("SocketGroup")
            if grp:
                try:
                    import grp as g
                    os.chown(listen, 0, g.getgrnam(grp).gr_gid)
                except (KeyError, OSError):
                    pass
            fds.append(s)
            paths.append(listen)
        u.fds, u.paths = fds, paths
        self.set_state(u, "active", "listening")
        self.log(u.name, f"Listening on {self.description(u)}.")
        return 0

    def socket_watch(self):
        """Socket activation: a connection to a listening socket starts its service."""
        while True:
            with self.lock:
                pairs = []
                for u in self.units.values():
                    if u.kind == "socket" and u.active == "active" and u.fds and now() > u.trigger_block:
                        svc_name = u.sections.get("Socket", {}).get("Service", u.name[:-7] + ".service")
                        svc = self.units.get(svc_name)
                        state = svc.active if svc else "inactive"
                        if state in ("inactive", "failed"):
                            pairs.append((u, svc_name))
            if not pairs:
                time.sleep(0.2)
                continue
            fdmap = {}
            for u, n in pairs:
                for s in u.fds:
                    fdmap[s.fileno()] = (u, n)
            try:
                r, _, _ = select.select(list(fdmap), [], [], 0.2)
            except (OSError, ValueError):
                time.sleep(0.2)
                continue
            for fd in r:
                u, n = fdmap[fd]
                u.trigger_block = now() + 2.0
                self.log(n, f"{u.name}: Incoming traffic, starting {n}.")
                threading.Thread(target=self.start, args=(n, Out(), True), daemon=True).start()

    # ---- stop --------------------------------------------------------------------
    def kill(self, u, sig):
        pid = u.main_pid
        if not pid:
            return
        mode = u.svc.get("KillMode", "control-group")
        try:
            if mode in ("control-group", "mixed") and sig != signal.SIGHUP:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except OSError:
            pass

    def stop(self, name, out, as_dep=False, together=(), chain=()):
        try:
            u = self.get_unit(name)
        except U.UnitError as e:
            out.e(f"Failed to stop {name}: {e}")
            return 5
        # one stop job per unit: a socket PartOf= its service, which Requires= the socket,
        # is stopped once, not back and forth
        chain = set(chain) | {name}
        for other in list(self.units.values()):
            if other is not u and other.name not in chain and \
                    name in self.deps(other, "Requires", "BindsTo", "PartOf") and \
                    other.active in ("active", "activating"):
                self.stop(other.name, Out(), as_dep=True, chain=chain)
        with u.busy:
            rc = self._stop_locked(u)
        if u.kind == "service" and not as_dep:
            sock = self.units.get(u.name[:-8] + ".socket")
            if sock is not None and sock.active == "active" and sock.name not in together:
                out.e(f"Warning: Stopping {name}, but it can still be activated by:\n  {sock.name}")
        return rc

    def _stop_locked(self, u):
        with self.lock:
            u.restart_gen += 1
            if u.active in ("inactive", "failed") or (u.active == "activating" and u.sub == "auto-restart"):
                if u.sub == "auto-restart":
                    u.active, u.sub = ("failed", "failed") if u.result != "success" else ("inactive", "dead")
                    self.cond.notify_all()
                return 0
        if u.kind == "socket":
            for s in u.fds:
                s.close()
            for p in u.paths:
                try:
                    os.unlink(p)
                except OSError:
                    pass
            u.fds, u.paths = [], []
            self.set_state(u, "inactive", "dead")
            self.log(u.name, f"Closed {self.description(u)}.")
            return 0
        if u.kind != "service":
            self.set_state(u, "inactive", "dead")
            return 0
        u.stopping = True
        self.set_state(u, "deactivating", "stop")
        self.log(u.name, f"Stopping {self.description(u)}...")
        try:
            env = self.unit_env(u)
        except U.UnitError:
            env = {"PATH": BASE_PATH}
        env["MAINPID"] = str(u.main_pid)
        for line in u.svc.get("ExecStop", []):
            _, argv = U.expand_exec(line, env)
            self.run_control(u, argv, env)
        sig = getattr(signal, u.svc.get("KillSignal", "SIGTERM"), signal.SIGTERM)
        self.kill(u, sig)
        limit = U.parse_seconds(u.svc.get("TimeoutStopSec", u.svc.get("TimeoutSec")), 90.0)
        limit = min(limit or STOP_TIMEOUT_CAP, STOP_TIMEOUT_CAP)
        with self.cond:
            if not self.cond.wait_for(lambda: u.main_pid == 0, limit):
                self.log(u.name, f"{u.name}: State 'stop-sigterm' timed out. Killing.")
                self.kill(u, signal.SIGKILL)
                self.cond.wait_for(lambda: u.main_pid == 0, 10)
        for line in u.svc.get("ExecStopPost", []):
            _, argv = U.expand_exec(line, env)
            self.run_control(u, argv, env)
        u.stopping = False
        u.result = "success"
        self.set_state(u, "inactive", "dead")
        self.log(u.name, f"{u.name}: Deactivated successfully.")
        self.log(u.name, f"Stopped {self.description(u)}.")
        return 0

    def restart(self, name, out):
        try:
            u = self.get_unit(name)
        except U.UnitError as e:
            out.e(f"Failed to restart {name}: {e}")
            return 5
        dependents = [o.name for o in list(self.units.values())
                      if o is not u and name in self.deps(o, "Requires", "BindsTo", "PartOf")
                      and o.active in ("active", "activating")]
        self.stop(name, Out(), as_dep=True)
        rc = self.start(name, out)
        for d in dependents:
            self.start(d, Out(), as_dep=True)
        return rc

    def reload(self, name, out):
        try:
            u = self.get_unit(name)
        except U.UnitError as e:
            out.e(f"Failed to reload {name}: {e}")
            return 5
        if u.active != "active":
            out.e(f"{name} is not active, cannot reload.")
            return 1
        lines = u.svc.get("ExecReload", [])
        if not lines:
            out.e(f"Failed to reload {name}: Job type reload is not applicable for unit {name}.")
            return 1
        env = self.unit_env(u)
        env["MAINPID"] = str(u.main_pid)
        for line in lines:
            flags, argv = U.expand_exec(line, env)
            if self.run_control(u, argv, env) != 0 and "-" not in flags:
                out.e(f"Job for {name} failed because the control process exited with error code.")
                return 1
        self.log(u.name, f"Reloaded {self.description(u)}.")
        return 0

    # ---- queries -----------------------------------------------------------------
    def state_of(self, name):
        try:
            u = self.get_unit(name)
        except U.UnitError:
            return None
        return u

    def status(self, name, out, lines=10):
        u = self.state_of(name)
        if u is None:
            out.e(f"Unit {name} could not be found.")
            return 4
        dot = {"active": "●", "failed": "×"}.get(u.active, "○")
        out.o(f"{dot} {u.name} - {self.description(u)}")
        ufs, _ = U.enablement(u.name)
        preset = "enabled"
        out.o(f"     Loaded: loaded ({u.files[0]}; {ufs}; preset: {preset})")
        if len(u.files) > 1:
            first = True
            by_dir = {}
            for f in u.files[1:]:
                by_dir.setdefault(os.path.dirname(f), []).append(os.path.basename(f))
            for d, fs in by_dir.items():
                out.o(f"    {'Drop-In' if first else '       '}: {d}")
                first = False
                for f in fs:
                    out.o(f"             └─{f}")
        since = ""
        if u.since:
            since = time.strftime(" since %a %Y-%m-%d %H:%M:%S %Z", time.localtime(u.since))
            ago = int(now() - u.since)
            since += f"; {ago // 60}min {ago % 60}s ago" if ago >= 60 else f"; {ago}s ago"
        extra = f" (Result: {u.result})" if u.active == "failed" else ""
        out.o(f"     Active: {u.active} ({u.sub}){extra}{since}")
        if self.changed_on_disk(u):
            out.o(f"    Warning: The unit file, source configuration file or drop-ins of {u.name} "
                  "changed on disk. Run 'systemctl daemon-reload' to reload units.")
        if u.paths:
            for p in u.paths:
                out.o(f"     Listen: {p} (Stream)")
        if u.main_pid:
            try:
                with open(f"/proc/{u.main_pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                comm = "?"
            out.o(f"   Main PID: {u.main_pid} ({comm})")
        elif u.exit:
            out.o(f"    Process: (code={u.exit[0]}, status={u.exit[2]})")
        if lines:
            out.o("")
            for ln in tail(f"{JOURNAL}/{u.name}.log", lines):
                out.o(ln)
        return 0 if u.active == "active" else 3

    def show(self, name, props):
        u = self.state_of(name)
        ufs = U.enablement(name)[0]
        vals = {
            "Id": name,
            "LoadState": "loaded" if u is not None else "not-found",
            "ActiveState": u.active if u else "inactive",
            "SubState": u.sub if u else "dead",
            "MainPID": str(u.main_pid if u else 0),
            "Result": u.result if u else "success",
            "UnitFileState": ufs,
            "FragmentPath": (u.files[0] if u and u.files else ""),
            "DropInPaths": " ".join(u.files[1:]) if u else "",
            "NRestarts": str(max(0, len(u.starts) - 1)) if u else "0",
            "ExecMainStatus": str(u.exit[1]) if u and u.exit else "0",
            "NeedDaemonReload": "yes" if u and self.changed_on_disk(u) else "no",
            "Description": self.description(u) if u else name,
        }
        keys = props or list(vals)
        return [f"{k}={vals.get(k, '')}" for k in keys]

    # ---- boot --------------------------------------------------------------------
    def boot(self):
        for target in ("sockets.target", "multi-user.target"):
            d = f"/etc/systemd/system/{target}.wants"
            names = sorted(os.listdir(d)) if os.path.isdir(d) else []
            ordered = self.order(names)
            for n in ordered:
                self.start(n, Out(), as_dep=True)

    def order(self, names):
        """Order units so that After= dependencies among them come first."""
        loaded = {}
        for n in names:
            try:
                loaded[n] = self.get_unit(n)
            except U.UnitError:
                pass
        done, out = set(), []

        def visit(n, seen=()):
            if n in done or n not in loaded or n in seen:
                return
            u = loaded[n]
            for a in self.deps(u, "After") + self.deps(u, "Requires") + self.deps(u, "Wants"):
                visit(a, seen + (n,))
            done.add(n)
            out.append(n)

        for n in names:
            visit(n)
        return out

    # ---- control socket ----------------------------------------------------------
    def handle(self, conn):
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            try:
                req = json.loads(data)
            except ValueError:
                return
            out = Out()
            try:
                rc = self.dispatch(req, out)
            except Exception as e:  # report, never die
                out.e(f"init: {type(e).__name__}: {e}")
                rc = 1
            reply = {"out": out.out, "err": out.err, "rc": rc}
            try:
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                pass

    def dispatch(self, req, out):
        cmd = req.get("cmd")
        names = [U.unit_name(n) for n in req.get("units", [])]
        rc = 0
        if cmd == "daemon-reload":
            self.daemon_reload()
            return 0
        if cmd in ("start", "stop", "restart", "try-restart", "reload", "reload-or-restart",
                   "try-reload-or-restart", "condrestart", "force-reload"):
            for n in names:
                if cmd == "start":
                    r = self.start(n, out)
                elif cmd == "stop":
                    r = self.stop(n, out, together=names)
                elif cmd in ("restart", "reload-or-restart", "force-reload"):
                    r = self.restart(n, out)
                elif cmd in ("try-restart", "condrestart", "try-reload-or-restart"):
                    u = self.state_of(n)
                    r = self.restart(n, out) if u and u.active == "active" else 0
                else:
                    r = self.reload(n, out)
                rc = rc or r
            return rc
        if cmd in ("is-active", "is-failed"):
            any_ok = False
            for n in names:
                u = self.state_of(n)
                st = u.active if u else "inactive"
                if not req.get("quiet"):
                    out.o(st)
                if (cmd == "is-active" and st == "active") or (cmd == "is-failed" and st == "failed"):
                    any_ok = True
            return 0 if any_ok else (3 if cmd == "is-active" else 1)
        if cmd == "status":
            for i, n in enumerate(names):
                if i:
                    out.o("")
                r = self.status(n, out, req.get("lines", 10))
                rc = rc or r
            return rc
        if cmd == "show":
            for i, n in enumerate(names):
                if i:
                    out.o("")
                for ln in self.show(n, req.get("props")):
                    out.o(ln if not req.get("value") else ln.split("=", 1)[1])
            return 0
        if cmd == "reset-failed":
            for u in ([self.state_of(n) for n in names] if names else list(self.units.values())):
                if u and u.active == "failed":
                    self.set_state(u, "inactive", "dead")
                    u.starts = []
            return 0
        if cmd == "kill":
            sig = getattr(signal, "SIG" + req.get("signal", "TERM").upper().replace("SIG", ""), signal.SIGTERM)
            for n in names:
                u = self.state_of(n)
                if u and u.main_pid:
                    self.kill(u, sig)
            return 0
        if cmd == "list-units":
            out.o(f"{'UNIT':<32} {'LOAD':<7} {'ACTIVE':<9} {'SUB':<12} DESCRIPTION")
            for u in sorted(self.units.values(), key=lambda x: x.name):
                if req.get("all") or u.active != "inactive":
                    out.o(f"{u.name:<32} {'loaded':<7} {u.active:<9} {u.sub:<12} {self.description(u)}")
            return 0
        out.e(f"Unknown command verb {cmd}.")
        return 1

    def serve(self):
        os.makedirs(os.path.dirname(CONTROL), exist_ok=True)
        try:
            os.unlink(CONTROL)
        except FileNotFoundError:
            pass
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(CONTROL)
        os.chmod(CONTROL, 0o600)
        srv.listen(64)
        while True:
            try:
                conn, _ = srv.accept()
            except InterruptedError:
                continue
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()


def tail(path, n):
    try:
        with open(path, errors="replace") as f:
            return [ln.rstrip("\n") for ln in f.readlines()[-n:]]
    except OSError:
        return []


# ---- host set-up ---------------------------------------------------------------------
def do_mounts(mounts):
    for m in mounts:
        t = m["target"]
        if not os.path.isdir(t) and not os.path.islink(t):
            os.makedirs(t, exist_ok=True)
        if m["type"] == "overlay":
            opts = f"lowerdir={t},upperdir={m['upper']},workdir={m['work']}"
            cmd = ["mount", "-t", "overlay", "overlay", "-o", opts, t]
        elif m["type"] == "bind":
            cmd = ["mount", "--bind", m["source"], t]
        elif m["type"] == "tmpfs":
            cmd = ["mount", "-t", "tmpfs", "-o", f"size={m['size']},mode=0711", "tmpfs", t]
        else:
            raise SystemExit(f"init: unknown mount type {m['type']}")
        subprocess.run(cmd, check=True)


def main():
    global HOSTNAME
    with open(sys.argv[1]) as f:
        host = json.load(f)
    HOSTNAME = host["name"]
    do_mounts(host["mounts"])
    socket.sethostname(HOSTNAME)
    # network sysctls are per network namespace: set what the spec says (kubeadm's set by default)
    for key, value in host.get("sysctls", {}).items():
        try:
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(value)
        except OSError as e:
            print(f"init: sysctl {key}={value}: {e.strerror}", file=sys.stderr)
    for d in ("/run/systemd/system", "/run/lock", "/run/user", JOURNAL):
        os.makedirs(d, exist_ok=True)
    # Our own copy of this program's modules lives on the host; the state dir can move.
    mgr = Manager()
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    signal.signal(signal.SIGINT, lambda *a: os._exit(0))
    threading.Thread(target=mgr.reaper, daemon=True).start()
    threading.Thread(target=mgr.socket_watch, daemon=True).start()
    threading.Thread(target=mgr.boot, daemon=True).start()
    with open("/run/lab-init.ready", "w") as f:
        f.write(str(os.getpid()))
    mgr.serve()


if __name__ == "__main__":
    main()
