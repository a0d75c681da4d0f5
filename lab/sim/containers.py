#!/usr/bin/python3
"""Containers that are real host processes: how the lab runs etcd (and anything else a
pod or a `docker run` unit stands for) although runc cannot start containers here.

A "container" is a supervisor process (this file, `shim` mode) that runs the container's
command as a host process and ties its life to the runtime that "runs" it, as a
container's life is tied in the field:

- runtime `docker`: the container dies when dockerd exits, unless `live-restore` is true
  in /etc/docker/daemon.json (dockerd stops its containers on shutdown unless
  live-restore keeps them); a container live-restore kept dies when a dockerd starts
  with live-restore off (it kills what it finds running), else that dockerd adopts it;
- runtime `containerd`: it survives containerd's restarts (containerd-shim keeps
  containers running; containerd.service has KillMode=process);
- either way it survives the kubelet: stopping the kubelet leaves containers running.

Each container has a record /run/rtmig-lab/containers/<id>.json (pid of its supervisor,
runtime, command, start time, exit code once it exited) that the kubelet simulator reads
to report the container's state. The supervisor is its own session, so stopping the unit
that started it (the kubelet) does not kill it.

Used two ways:
- by the kubelet simulator (`start()`), for the containers of pods annotated
  `lab.rtmig.io/host-process` (the static pod etcd.yaml on masters, by default);
- as `/usr/lib/rtmig-lab/docker`, the lab's stand-in for `docker run` in units such as
  Kubespray's etcd.service (`etcd_deployment_type: docker`): `docker run [--name N]
  [--env-file F] [-e K=V] ... IMAGE [CMD...]` needs dockerd to answer and the image in
  Docker's store, runs in the foreground like `docker run` without `-d`, and exits when
  its container dies (with dockerd, unless live-restore). `docker stop|rm -f|kill NAME`
  act on such containers; every other command is the real /usr/bin/docker.

Standard library only: this is a test fixture, not shipped code.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import sys
import time

RECORDS = "/run/rtmig-lab/containers"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def record_path(cid):
    return os.path.join(RECORDS, cid.replace("/", "_") + ".json")


def read_record(cid):
    try:
        with open(record_path(cid)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_record(cid, rec):
    os.makedirs(RECORDS, exist_ok=True)
    tmp = record_path(cid) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f)
    os.replace(tmp, record_path(cid))


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def running(cid):
    """The container's record when its supervisor is alive and its command has not exited."""
    rec = read_record(cid)
    if rec and "exitCode" not in rec and alive(rec.get("pid", 0)):
        return rec
    return None


def process_of(comm):
    """The pid of the host's process whose name is `comm` (dockerd, containerd)."""
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() == comm:
                        return int(d)
            except OSError:
                pass
    return None


def live_restore():
    try:
        with open("/etc/docker/daemon.json") as f:
            return bool(json.load(f).get("live-restore", False))
    except (OSError, ValueError, AttributeError):
        return False


def host_binary(cmd0, env):
    """The host binary that stands for the image's command: `/usr/local/bin/etcd` in the
    image is the host's etcd, wherever PATH finds it."""
    if os.path.isabs(cmd0) and os.access(cmd0, os.X_OK):
        return cmd0
    return shutil.which(os.path.basename(cmd0), path=env.get("PATH", PATH))


# ---- the supervisor ---------------------------------------------------------------------
def shim(cid, runtime, argv, env, log, foreground=False, extra=None):
    """Run argv as container `cid` of `runtime` until it exits or its runtime takes it down.
    Returns the container's exit code (or 125, docker's code for a daemon gone away)."""
    binary = host_binary(argv[0], env)
    rec = {"id": cid, "pid": os.getpid(), "runtime": runtime, "argv": argv, "started": time.time(),
           **(extra or {})}
    if binary is None:
        rec.update(exitCode=127, error=f'exec: "{argv[0]}": executable file not found in $PATH', finished=time.time())
        write_record(cid, rec)
        return 127
    runtime_pid = process_of("dockerd" if runtime == "docker" else "containerd")
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640) if log else None
    child = os.fork()
    if child == 0:
        try:
            if out is not None:
                os.dup2(out, 1)
                os.dup2(out, 2)
            os.execve(binary, [argv[0]] + argv[1:], env)
        except OSError as e:
            os.write(2, f"exec {binary}: {e}\n".encode())
        os._exit(127)
    rec["child"] = child
    write_record(cid, rec)
    stopping = {"sig": None}

    def forward(sig, _frame):
        stopping["sig"] = sig
        try:
            os.kill(child, signal.SIGTERM)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    daemon_gone = False
    while True:
        try:
            pid, status = os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            pid, status = child, 0
        if pid == child:
            break
        if runtime == "docker" and not daemon_gone and runtime_pid and not alive(runtime_pid):
            # dockerd went away: without live-restore it stopped its containers; with it
            # they run on, until a dockerd starts without live-restore (it kills what it
            # finds running from before) -- or with it (it adopts them)
            successor = process_of("dockerd")
            if not live_restore():
                daemon_gone = True
                try:
                    os.kill(child, signal.SIGTERM)
                except OSError:
                    pass
                deadline = time.time() + 10
            elif successor:
                runtime_pid = successor
        if daemon_gone and time.time() > deadline:
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.3)
    code = os.waitstatus_to_exitcode(status) if status else 0
    if code < 0:
        code = 128 - code
    rec.update(exitCode=code, finished=time.time(), reason="daemon stopped" if daemon_gone else
               ("stopped" if stopping["sig"] else "exited"))
    write_record(cid, rec)
    if daemon_gone and foreground:
        sys.stderr.write("error waiting for container: unexpected EOF\n")
        return 125
    return code


def start(cid, runtime, argv, env, log, extra=None):
    """Start container `cid` in the background (double fork: it outlives the caller).
    `extra` goes into its record (the kubelet keeps restartCount and the pod there)."""
    try:
        os.unlink(record_path(cid))
    except OSError:
        pass
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            devnull = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.closerange(3, 65536)
            if log:
                os.makedirs(os.path.dirname(log), exist_ok=True)
            # a fresh process (not a copy of the caller: `pgrep -f kubelet` must not find it)
            os.execve(sys.executable, [sys.executable, os.path.realpath(__file__), "shim", cid, runtime,
                                       log or "", json.dumps(extra or {}), "--"] + list(argv), env)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    for _ in range(50):  # until the record names the new supervisor
        rec = read_record(cid)
        if rec:
            return rec
        time.sleep(0.02)
    return read_record(cid)


def stop(cid, timeout=10.0):
    rec = running(cid)
    if not rec:
        return False
    try:
        os.kill(rec["pid"], signal.SIGTERM)
    except OSError:
        return False
    end = time.time() + timeout
    while time.time() < end and alive(rec["pid"]):
        time.sleep(0.1)
    if alive(rec["pid"]):
        for p in (rec.get("child"), rec["pid"]):
            try:
                os.kill(p, signal.SIGKILL)
            except (OSError, TypeError):
                pass
    return True


# ---- the `docker` stand-in ----------------------------------------------------------------
class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.sock_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.sock_path)
        self.sock = s


def docker_api(path):
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    c = UnixHTTP(host[len("unix://"):] if host.startswith("unix://") else host)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def normalize(ref):
    name, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "latest")
    return f"{name}:{tag}"


# `docker run` flags that take a value (the ones units use); others are boolean.
RUN_VALUE_FLAGS = {"--name", "--env-file", "-e", "--env", "-v", "--volume", "-p", "--publish", "--net",
                   "--network", "--restart", "--log-driver", "--log-opt", "-l", "--label", "--entrypoint",
                   "-w", "--workdir", "-u", "--user", "--memory", "-m", "--cpus", "--ulimit", "--pid",
                   "--ipc", "--hostname", "-h", "--add-host", "--dns", "--mount", "--cap-add", "--cap-drop",
                   "--security-opt", "--stop-signal", "--stop-timeout", "--health-cmd"}


def docker_run(args):
    name, env = None, {"PATH": PATH, "HOME": "/root"}
    i = 0
    while i < len(args) and args[i].startswith("-"):
        a = args[i]
        key, eq, val = a.partition("=")
        if key in RUN_VALUE_FLAGS and not eq:
            i += 1
            val = args[i] if i < len(args) else ""
        if key == "--name":
            name = val
        elif key == "--env-file":
            try:
                with open(val) as f:
                    for line in f:
                        line = line.strip()
                        if line and not line.startswith("#") and "=" in line:
                            k, v = line.split("=", 1)
                            env[k] = v
            except OSError as e:
                sys.stderr.write(f"docker: open {val}: {e.strerror.lower()}.\nSee 'docker run --help'.\n")
                return 125
        elif key in ("-e", "--env") and "=" in val:
            k, v = val.split("=", 1)
            env[k] = v
        i += 1
    if i >= len(args):
        sys.stderr.write('"docker run" requires at least 1 argument.\nSee \'docker run --help\'.\n')
        return 125
    image, cmd = args[i], args[i + 1:]
    try:
        code, _ = docker_api(f"/images/{normalize(image)}/json")
    except OSError:
        sys.stderr.write("docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                         "Is the docker daemon running?.\nSee 'docker run --help'.\n")
        return 125
    if code != 200:
        # the lab is air-gapped: what is not in Docker's store cannot be pulled
        sys.stderr.write(f"Unable to find image '{image}' locally\ndocker: Error response from daemon: Get "
                         "\"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such "
                         "host.\nSee 'docker run --help'.\n")
        return 125
    if not cmd:
        sys.stderr.write(f"docker: the lab runs an image's command as a host process; name it after "
                         f"`{image}`.\n")
        return 125
    cid = f"run_{name or image.replace('/', '_').replace(':', '_')}"
    if running(cid):
        sys.stderr.write(f'docker: Error response from daemon: Conflict. The container name "/{name}" is '
                         "already in use.\nSee 'docker run --help'.\n")
        return 125
    return shim(cid, "docker", cmd, env, None, foreground=True)


def docker_main(argv):
    if argv and argv[0] == "run":
        return docker_run(argv[1:])
    if argv and argv[0] in ("stop", "kill", "rm", "restart"):
        names = [a for a in argv[1:] if not a.startswith("-")]
        if names and all(read_record(f"run_{n}") is not None for n in names):
            for n in names:
                if argv[0] != "rm" or "-f" in argv or "--force" in argv:
                    stop(f"run_{n}")
                print(n)
            return 0
    os.execv("/usr/bin/docker", ["docker"] + argv)


def shim_main(argv):
    """containers.py shim CID RUNTIME LOG EXTRA_JSON -- CMD...: the supervisor, as start() runs it."""
    cid, runtime, log, extra = argv[:4]
    cmd = argv[5:] if len(argv) > 4 and argv[4] == "--" else argv[4:]
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, b"containerd-shim" if runtime == "containerd" else b"docker-shim", 0, 0, 0)
    except (OSError, AttributeError):
        pass
    return shim(cid, runtime, cmd, dict(os.environ), log or None, extra=json.loads(extra or "{}"))


if __name__ == "__main__":
    if sys.argv[1:2] == ["shim"]:
        sys.exit(shim_main(sys.argv[2:]))
    sys.exit(docker_main(sys.argv[1:]))
