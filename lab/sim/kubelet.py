#!/usr/bin/python3
"""The lab's kubelet: reads a kubelet's real flags and files, checks the runtime, reports.

Installed as /usr/bin/kubelet on every lab host and started by the host's systemd
stand-in from kubelet.service and its drop-ins, so its command line is whatever the
node's 10-kubeadm.conf, kubeadm-flags.env, /etc/default/kubelet or /etc/sysconfig/kubelet
make of it. Like a kubelet of the node's version (/usr/lib/rtmig-lab/kubelet-version) it:

- rejects a flag that version does not have ("unknown flag", exit 1): the dockershim
  flags (--network-plugin, --docker-endpoint, ...) exist below 1.24 only,
  --container-runtime below 1.27 only;
- picks the runtime: below 1.24 `--container-runtime` (default docker: dockershim, talks
  to dockerd) or `remote` with `--container-runtime-endpoint`; from 1.24 only remote
  (`--container-runtime=docker` is refused), from 1.27 the endpoint defaults to containerd;
- at start, needs the runtime to answer: dockerd's API (and the same cgroup driver as
  Docker), or a containerd socket that answers `ctr version` with the CRI plugin loaded
  (`ctr plugins ls`); otherwise it logs the error a real kubelet logs and exits 1;
- while running, reports the node Ready only when the runtime answers, containerd's
  `SystemdCgroup` (config.toml, v1 or v2 schema) matches the kubelet's cgroupDriver, and
  containerd's sandbox image is in its `k8s.io` namespace; else NotReady with the reason;
- runs the pods bound to its node: Running when every image is in the runtime it uses
  (Docker's store, or containerd's `k8s.io` namespace), ImagePullBackOff otherwise (the
  lab is air-gapped: nothing is ever pulled); keeps the mirror pods of its static pods;
- runs for real the containers a pod's `lab.rtmig.io/host-process` annotation names (the
  static pod etcd.yaml: a real etcd member), as host processes tied to the runtime
  (containers.py): started from the manifest on disk, without the API server, as a
  kubelet starts static pods; restarted with CrashLoopBackOff's back-off when they exit;
  stopped when their pod goes away; left running when the kubelet stops;
- gives pod sandboxes their IPs as the CNI host-local IPAM plugin does when the network
  config's host-local range has `rangeStart`/`rangeEnd` (spec `kubernetes.pod_ips_per_node`):
  one file per IP under `dataDir/<network>` (default /var/lib/cni/networks) holding the
  sandbox id, written when the sandbox starts and removed when the kubelet tears it down (its
  pod left the node). Sandboxes that died with their runtime (Docker stopped under
  dockershim) are never torn down: their IPs stay reserved, and once the range is full a new
  sandbox fails with host-local's `no IP addresses available in range set`.

Deviation from a real kubelet, on purpose: when it exits on a fatal error it first posts
NotReady with that error, so `kubectl describe node` shows why without waiting for the
node-monitor grace period.

Standard library only: this is a test fixture, not shipped code.
"""
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import containers as C  # noqa: E402
import k8s as K  # noqa: E402

# A pod annotation naming the containers (comma-separated) that run for real, as host
# processes (containers.py): their `command` + `args` run while this kubelet's runtime
# would run the container, and die with it. The static pod etcd.yaml uses it.
HOST_PROCESS = "lab.rtmig.io/host-process"

HERE = os.path.dirname(os.path.realpath(__file__))
# A pod annotation naming runtimes (`containerd`, `docker`, comma-separated) on which its
# containers exit 1 as soon as they start: a workload that only works on Docker, say.
CRASH_ON = "lab.rtmig.io/crash-on"
LOOP = 2.0
HEARTBEAT = 10.0

# flag -> (takes a value, first minor that has it, first minor that lacks it)
DOCKERSHIM = (True, 0, 24)
FLAGS = {
    "container-runtime": (True, 0, 27),
    "container-runtime-endpoint": (True, 0, 99), "image-service-endpoint": (True, 0, 99),
    "pod-infra-container-image": (True, 0, 99),
    "network-plugin": DOCKERSHIM, "cni-bin-dir": DOCKERSHIM, "cni-conf-dir": DOCKERSHIM,
    "cni-cache-dir": DOCKERSHIM, "network-plugin-mtu": DOCKERSHIM, "docker-endpoint": DOCKERSHIM,
    "image-pull-progress-deadline": DOCKERSHIM, "experimental-dockershim-root-directory": DOCKERSHIM,
    "non-masquerade-cidr": DOCKERSHIM, "dockershim-root-directory": DOCKERSHIM,
    "docker-disable-shared-pid": DOCKERSHIM,
    "config": (True, 0, 99), "kubeconfig": (True, 0, 99), "bootstrap-kubeconfig": (True, 0, 99),
    "cert-dir": (True, 0, 99), "rotate-certificates": (False, 0, 99), "hostname-override": (True, 0, 99),
    "node-ip": (True, 0, 99), "node-labels": (True, 0, 99), "register-node": (False, 0, 99),
    "register-with-taints": (True, 0, 99), "root-dir": (True, 0, 99), "v": (True, 0, 99),
    "vmodule": (True, 0, 99), "logtostderr": (False, 0, 26), "alsologtostderr": (False, 0, 26),
    "log-dir": (True, 0, 26), "log-file": (True, 0, 26), "skip-headers": (False, 0, 26),
    "cgroup-driver": (True, 0, 99), "cgroup-root": (True, 0, 99), "cgroups-per-qos": (False, 0, 99),
    "runtime-cgroups": (True, 0, 99), "kubelet-cgroups": (True, 0, 99), "system-reserved": (True, 0, 99),
    "kube-reserved": (True, 0, 99), "eviction-hard": (True, 0, 99), "max-pods": (True, 0, 99),
    "pod-manifest-path": (True, 0, 99), "cluster-dns": (True, 0, 99), "cluster-domain": (True, 0, 99),
    "resolv-conf": (True, 0, 99), "fail-swap-on": (False, 0, 99), "feature-gates": (True, 0, 99),
    "runtime-request-timeout": (True, 0, 99), "provider-id": (True, 0, 99), "cloud-provider": (True, 0, 99),
    "cloud-config": (True, 0, 99), "tls-cert-file": (True, 0, 99), "tls-private-key-file": (True, 0, 99),
    "tls-cipher-suites": (True, 0, 99), "tls-min-version": (True, 0, 99),
    "authentication-token-webhook": (False, 0, 99), "authorization-mode": (True, 0, 99),
    "read-only-port": (True, 0, 99), "anonymous-auth": (False, 0, 99), "client-ca-file": (True, 0, 99),
    "serialize-image-pulls": (False, 0, 99), "image-gc-high-threshold": (True, 0, 99),
    "image-gc-low-threshold": (True, 0, 99), "volume-plugin-dir": (True, 0, 99), "address": (True, 0, 99),
    "port": (True, 0, 99), "healthz-port": (True, 0, 99), "healthz-bind-address": (True, 0, 99),
    "event-qps": (True, 0, 99), "enforce-node-allocatable": (True, 0, 99),
    "protect-kernel-defaults": (False, 0, 99), "streaming-connection-idle-timeout": (True, 0, 99),
    "container-log-max-size": (True, 0, 99), "container-log-max-files": (True, 0, 99),
    "housekeeping-interval": (True, 0, 99), "pod-max-pids": (True, 0, 99), "seccomp-default": (False, 0, 99),
    "node-status-update-frequency": (True, 0, 99), "eviction-soft": (True, 0, 99),
    "eviction-soft-grace-period": (True, 0, 99), "kube-api-qps": (True, 0, 99), "kube-api-burst": (True, 0, 99),
    "allowed-unsafe-sysctls": (True, 0, 99), "topology-manager-policy": (True, 0, 99),
    "cpu-manager-policy": (True, 0, 99), "system-reserved-cgroup": (True, 0, 99),
    "kube-reserved-cgroup": (True, 0, 99), "exit-on-lock-contention": (False, 0, 99),
    "lock-file": (True, 0, 99), "hairpin-mode": (True, 0, 99), "make-iptables-util-chains": (False, 0, 99),
    "version": (False, 0, 99), "help": (False, 0, 99), "h": (False, 0, 99),
}


def klog(level, msg, **kv):
    t = time.time()
    lt = time.localtime(t)
    us = int((t % 1) * 1e6)
    extra = "".join(f" {k}={json.dumps(v)}" for k, v in kv.items())
    sys.stderr.write(f"{level}{time.strftime('%m%d %H:%M:%S', lt)}.{us:06d} {os.getpid():7d} kubelet.go:0] "
                     f"{json.dumps(msg) if kv else msg}{extra}\n")
    sys.stderr.flush()


class Fatal(Exception):
    pass


def version():
    try:
        with open(os.path.join(HERE, "kubelet-version")) as f:
            v = f.read().strip()
    except OSError:
        v = "1.23.17"
    return v, int(v.split(".")[1])


def parse_flags(argv, minor):
    flags = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if not a.startswith("-") or a == "-":
            raise Fatal(f'unknown command "{a}" for "kubelet"')
        body = a.lstrip("-")
        name, eq, value = body.partition("=")
        spec = FLAGS.get(name)
        if spec is None or not (spec[1] <= minor < spec[2]):
            raise Fatal(f"failed to parse kubelet flag: unknown flag: --{name}")
        takes, _, _ = spec
        if takes and not eq:
            if i >= len(argv):
                raise Fatal(f"failed to parse kubelet flag: flag needs an argument: --{name}")
            value = argv[i]
            i += 1
        elif not takes and not eq:
            value = "true"
        flags[name] = value
    return flags


def yaml_scalar(path, key):
    """A top-level scalar of a YAML file (the kubelet config and kubeconfigs are simple)."""
    with open(path) as f:
        for line in f:
            m = re.match(rf"^{re.escape(key)}:\s*(.*?)\s*$", line)
            if m:
                return m.group(1).strip("\"'")
    return None


def kubeconfig_server(path):
    with open(path) as f:
        m = re.search(r"^\s*server:\s*(\S+)", f.read(), re.M)
    return m.group(1).strip("\"'") if m else None


# ---- talking to runtimes ----------------------------------------------------------------
class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=5):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def docker_get(sock, path):
    c = UnixHTTP(sock)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return json.loads(r.read())
    finally:
        c.close()


def docker_names(imgs):
    """Every name Docker resolves an image by: its tags and its registry digests."""
    return {K.normalize_image(t) for i in imgs for t in (i.get("RepoTags") or []) + (i.get("RepoDigests") or [])
            if "<none>" not in t}


def ctr(sock, *args, timeout=10):
    try:
        p = subprocess.run(["ctr", "--address", sock, *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 1, "", str(e)
    return p.returncode, p.stdout, p.stderr


def socket_answers(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def cri_dockerd_info(path):
    """The lab's cri-dockerd answers `INFO` with a JSON line; containerd does not."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        s.sendall(b"INFO\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        info = json.loads(data) if data else None
        return info if isinstance(info, dict) and info.get("runtime") == "cri-dockerd" else None
    except (OSError, ValueError):
        return None
    finally:
        s.close()


def containerd_process(sock):
    """The containerd serving `sock`: (pid, start time, config path)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{d}/stat") as f:
                start = f.read().rsplit(")", 1)[1].split()[19]
        except OSError:
            continue
        if not argv or os.path.basename(argv[0].decode(errors="replace")) != "containerd":
            continue
        args = [a.decode(errors="replace") for a in argv[1:] if a]
        cfg, address = "/etc/containerd/config.toml", None
        for i, a in enumerate(args):
            if a in ("--config", "-c") and i + 1 < len(args):
                cfg = args[i + 1]
            elif a.startswith("--config="):
                cfg = a.split("=", 1)[1]
            elif a in ("--address", "-a") and i + 1 < len(args):
                address = args[i + 1]
        if address is None:
            address = config_address(cfg)
        if os.path.realpath(address) == os.path.realpath(sock):
            return int(d), start, cfg
    return None


def config_address(cfg_path):
    try:
        with open(cfg_path, "rb") as f:
            cfg = tomllib.load(f)
        return cfg.get("grpc", {}).get("address") or "/run/containerd/containerd.sock"
    except (OSError, tomllib.TOMLDecodeError):
        return "/run/containerd/containerd.sock"


def cri_settings(cfg_path):
    """(SystemdCgroup, sandbox_image, where) from containerd's config, v1 or v2 schema."""
    with open(cfg_path, "rb") as f:
        cfg = tomllib.load(f)
    ver = cfg.get("version", 1)
    plugins = cfg.get("plugins", {})
    cri = plugins.get("io.containerd.grpc.v1.cri" if ver >= 2 else "cri", {})
    ctd = cri.get("containerd", {})
    name = ctd.get("default_runtime_name", "runc")
    rt = ctd.get("runtimes", {}).get(name, {})
    rtype = rt.get("runtime_type", "io.containerd.runc.v2")
    if rtype == "io.containerd.runtime.v1.linux":
        systemd = bool(cri.get("systemd_cgroup", False))
        where = "systemd_cgroup (io.containerd.runtime.v1.linux)"
    else:
        systemd = bool(rt.get("options", {}).get("SystemdCgroup", False))
        where = f"SystemdCgroup of runtime `{name}`"
    return systemd, cri.get("sandbox_image", "registry.k8s.io/pause:3.6"), where


def cri_cni_dirs(cfg_path):
    """(conf_dir, bin_dir) of containerd's CRI plugin (v1 or v2 schema), with its defaults."""
    try:
        with open(cfg_path, "rb") as f:
            cfg = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        cfg = {}
    plugins = cfg.get("plugins", {})
    cri = plugins.get("io.containerd.grpc.v1.cri" if cfg.get("version", 1) >= 2 else "cri", {})
    cni = cri.get("cni", {})
    return cni.get("conf_dir", "/etc/cni/net.d"), cni.get("bin_dir", "/opt/cni/bin")


def cni_network(conf_dir, bin_dir):
    """What libcni makes of a config dir and a plugin dir: (node error, pod error). Without a
    network config the runtime's network is not ready; with one, a pod's sandbox fails while
    a plugin the config names is not an executable in the plugin dir."""
    try:
        files = sorted(f for f in os.listdir(conf_dir) if f.endswith((".conf", ".conflist", ".json")))
    except OSError:
        files = []
    conf = None
    for name in files:
        try:
            with open(os.path.join(conf_dir, name)) as f:
                conf = json.load(f)
            break
        except (OSError, ValueError):
            continue
    if not isinstance(conf, dict):
        return "cni config uninitialized", None
    plugins = conf.get("plugins") if "plugins" in conf else [conf]
    for p in plugins or []:
        t = p.get("type") if isinstance(p, dict) else None
        if t and not os.access(os.path.join(bin_dir, t), os.X_OK):
            return None, (conf.get("name", ""), t)
    return None, None


def ip4(text):
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def ip4_text(n):
    return ".".join(str((n >> s) & 255) for s in (24, 16, 8, 0))


def host_local_ipam(conf_dir):
    """(network name, data dir, first IP, last IP) of the first network config's host-local
    range, when it gives rangeStart and rangeEnd (IPv4); None otherwise."""
    try:
        files = sorted(f for f in os.listdir(conf_dir) if f.endswith((".conf", ".conflist", ".json")))
        with open(os.path.join(conf_dir, files[0])) as f:
            conf = json.load(f)
    except (OSError, ValueError, IndexError):
        return None
    if not isinstance(conf, dict):
        return None
    for p in (conf.get("plugins") if "plugins" in conf else [conf]) or []:
        ipam = p.get("ipam") if isinstance(p, dict) else None
        if not isinstance(ipam, dict) or ipam.get("type") != "host-local":
            continue
        r = ipam
        if isinstance(ipam.get("ranges"), list) and ipam["ranges"] and isinstance(ipam["ranges"][0], list):
            r = ipam["ranges"][0][0] if ipam["ranges"][0] else {}
        try:
            start, end = ip4(r["rangeStart"]), ip4(r["rangeEnd"])
        except (KeyError, ValueError, TypeError, AttributeError):
            return None
        return conf.get("name", ""), ipam.get("dataDir", "/var/lib/cni/networks"), start, end
    return None


def cri_pull_args(cfg_path, host):
    """ctr's pull options for `host` from the CRI registry settings of containerd's config:
    `config_path` (hosts.toml directories) or the deprecated `registry.mirrors`/`configs`."""
    try:
        with open(cfg_path, "rb") as f:
            cfg = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return []
    reg = cfg.get("plugins", {}).get("io.containerd.grpc.v1.cri", {}).get("registry", {})
    if reg.get("config_path"):
        return ["--hosts-dir", reg["config_path"].split(":")[0]]
    args = []
    endpoints = reg.get("mirrors", {}).get(host, {}).get("endpoint", [])
    if endpoints and endpoints[0].startswith("http://"):
        args.append("--plain-http")
    if reg.get("configs", {}).get(host, {}).get("tls", {}).get("insecure_skip_verify"):
        args.append("--skip-verify")
    return args


# ---- the kubelet ----------------------------------------------------------------------------
class Kubelet:
    def __init__(self, argv):
        self.version, self.minor = version()
        self.flags = parse_flags(argv, self.minor)
        self.node = (self.flags.get("hostname-override") or socket.gethostname()).lower()
        self.api = None
        for key in ("kubeconfig", "bootstrap-kubeconfig"):
            p = self.flags.get(key)
            if p and os.path.exists(p):
                self.api = kubeconfig_server(p)
                if self.api:
                    break
        cfg = self.flags.get("config")
        self.cfg = {}
        if cfg:
            if not os.path.exists(cfg):
                raise Fatal(f"failed to load Kubelet config file {cfg}, error failed to read kubelet config file "
                            f"\"{cfg}\", error: open {cfg}: no such file or directory")
            for k in ("cgroupDriver", "containerRuntimeEndpoint", "staticPodPath"):
                v = yaml_scalar(cfg, k)
                if v:
                    self.cfg[k] = v
        self.cgroup_driver = self.flags.get("cgroup-driver") or self.cfg.get("cgroupDriver") or "cgroupfs"
        self.static_path = self.flags.get("pod-manifest-path") or self.cfg.get("staticPodPath")
        self.pick_runtime()
        self.node_ip = None
        self.last_post = 0.0
        self.last_node_status = None
        self.ctd_identity = None
        self.ctd_info = None
        self.image_cache = (None, set())
        self.via = "containerd" if self.runtime == "remote" else "dockershim"
        self.pod_net_err = None  # why a pod's sandbox cannot get its network (hostNetwork pods need none)
        self.cni_conf_dir = None  # the CNI config dir the runtime reads (network_check)
        self.docker_sock = None
        self.pull_failed = {}  # normalized reference -> (time, message) of its last failed pull
        try:
            with open(os.path.join(HERE, "registry-host")) as f:
                self.registry_host = f.read().strip()  # the lab's registry: the only one reachable
        except OSError:
            self.registry_host = None
        self.crashes = {}

    def pick_runtime(self):
        f, minor = self.flags, self.minor
        endpoint = f.get("container-runtime-endpoint")
        if minor < 24:
            rt = f.get("container-runtime", "docker")
            if rt not in ("docker", "remote"):
                raise Fatal(f'failed to run Kubelet: unsupported container runtime "{rt}"')
            if rt == "docker":
                if endpoint and "dockershim" not in endpoint:
                    klog("W", f"--container-runtime-endpoint={endpoint} is ignored by the dockershim runtime: "
                              "without --container-runtime=remote this kubelet keeps using Docker")
                self.runtime = "docker"
                self.endpoint = f.get("docker-endpoint", "unix:///var/run/docker.sock")
                return
            self.runtime = "remote"
            self.endpoint = endpoint or "unix:///var/run/dockershim.sock"
            return
        if "container-runtime" in f:
            if f["container-runtime"] != "remote":
                raise Fatal(f'failed to validate kubelet flags: unsupported CRI runtime: "{f["container-runtime"]}", '
                            'only "remote" is currently supported')
            klog("W", "Flag --container-runtime has been deprecated, will be removed in 1.27 as the only valid "
                      "value is 'remote'")
        self.runtime = "remote"
        if minor >= 27:
            self.endpoint = endpoint or self.cfg.get("containerRuntimeEndpoint") or \
                "unix:///run/containerd/containerd.sock"
        else:
            self.endpoint = endpoint or "unix:///var/run/dockershim.sock"

    @property
    def sock(self):
        return self.endpoint[len("unix://"):] if self.endpoint.startswith("unix://") else self.endpoint

    # -- API
    def call(self, method, path, body=None, ctype="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api + path, data=data, method=method,
                                     headers={"Content-Type": ctype, "Accept": "application/json",
                                              "User-Agent": f"kubelet/v{self.version} (linux/amd64) lab"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                return e.code, json.loads(e.read() or b"null")
            except ValueError:
                return e.code, None

    def my_ip(self):
        if self.flags.get("node-ip"):
            return self.flags["node-ip"]
        host = re.sub(r"^https?://", "", self.api).split("/")[0].rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.connect((host[0], int(host[1]) if len(host) > 1 else 80))
            return s.getsockname()[0]
        except OSError:
            return None
        finally:
            s.close()

    # -- runtime checks
    def startup_checks(self):
        if self.runtime == "docker":
            try:
                docker_get(self.sock, "/version")
            except OSError:
                raise Fatal(f"failed to run Kubelet: failed to create kubelet: failed to get docker version: Cannot "
                            f"connect to the Docker daemon at {self.endpoint}. Is the docker daemon running?")
            info = docker_get(self.sock, "/info")
            if info.get("CgroupDriver") != self.cgroup_driver:
                raise Fatal(f'failed to run Kubelet: misconfiguration: kubelet cgroup driver: "{self.cgroup_driver}" '
                            f'is different from docker cgroup driver: "{info.get("CgroupDriver")}"')
            return
        api = "runtime.v1alpha2.RuntimeService" if self.minor < 24 else "runtime.v1.RuntimeService"
        if not socket_answers(self.sock):
            err = (f'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing '
                   f'dial unix {self.sock}: connect: no such file or directory"')
            if self.minor < 24:
                raise Fatal(f"failed to run Kubelet: unable to determine runtime API version: {err}")
            raise Fatal(f'failed to run Kubelet: validate service connection: CRI v1 runtime API is not implemented '
                        f'for endpoint "{self.endpoint}": {err}')
        info = cri_dockerd_info(self.sock)
        if info is not None:
            self.via = "cri-dockerd"
            if not info.get("ok"):
                raise Fatal(f"failed to run Kubelet: validate service connection: validate CRI v1 runtime API for "
                            f"endpoint \"{self.endpoint}\": rpc error: code = Unknown desc = {info.get('error')}")
            return
        rc, out, err = ctr(self.sock, "version")
        if rc != 0:
            raise Fatal(f"failed to run Kubelet: unable to determine runtime API version: rpc error: code = "
                        f"Unavailable desc = {err.strip()}")
        if not self.cri_loaded():
            err = f"rpc error: code = Unimplemented desc = unknown service {api}"
            if self.minor < 24:
                raise Fatal(f"failed to run Kubelet: unable to determine runtime API version: {err}")
            raise Fatal(f'failed to run Kubelet: validate service connection: CRI v1 runtime API is not implemented '
                        f'for endpoint "{self.endpoint}": {err}')

    def cri_loaded(self):
        rc, out, _ = ctr(self.sock, "plugins", "ls")
        if rc != 0:
            return False
        for line in out.splitlines():
            cols = line.split()
            if len(cols) >= 4 and cols[0] == "io.containerd.grpc.v1" and cols[1] == "cri":
                return cols[-1] == "ok"
        return False

    def runtime_state(self):
        """(ready, message, runtime version, image set, sandbox ok)."""
        if self.runtime == "docker":
            try:
                v = docker_get(self.sock, "/version")
                imgs = docker_get(self.sock, "/images/json")
            except OSError:
                return False, "container runtime is down, PLEG is not healthy: pleg was last seen active 3m0s ago; " \
                              "threshold is 3m0s", None, set(), False
            names = docker_names(imgs)
            self.docker_sock = self.sock
            pause = self.flags.get("pod-infra-container-image", "k8s.gcr.io/pause:3.6")
            version = f"docker://{v.get('Version')}"
            # dockershim's network plugin: --network-plugin=cni reads the kubelet's CNI dirs
            # (kubenet and no plugin need none here).
            if self.flags.get("network-plugin") == "cni":
                err = self.network_check(self.flags.get("cni-conf-dir", "/etc/cni/net.d"),
                                         self.flags.get("cni-bin-dir", "/opt/cni/bin"), "docker")
                if err:
                    return False, err, version, names, K.normalize_image(pause) in names
            else:
                self.pod_net_err = None
            return True, "", version, names, K.normalize_image(pause) in names
        if self.via == "cri-dockerd":
            return self.cri_dockerd_state()
        # containerd
        if not socket_answers(self.sock):
            return False, "container runtime is down, PLEG is not healthy: pleg was last seen active 3m0s ago; " \
                          "threshold is 3m0s", None, set(), False
        proc = containerd_process(self.sock)
        ident = proc[:2] if proc else None
        if ident != self.ctd_identity or self.ctd_info is None:
            rc, out, err = ctr(self.sock, "version")
            m = re.search(r"Server:\s*\n\s*Version:\s*(\S+)", out)
            if rc != 0 or not m:
                return False, f"container runtime is down: {err.strip()}", None, set(), False
            cri = self.cri_loaded()
            self.ctd_info = {"version": m.group(1), "cri": cri, "config": proc[2] if proc else
                             "/etc/containerd/config.toml"}
            self.ctd_identity = ident
            self.image_cache = (None, set())
        info = self.ctd_info
        api = "runtime.v1alpha2.RuntimeService" if self.minor < 24 else "runtime.v1.RuntimeService"
        if not info["cri"]:
            return False, ("container runtime is down, PLEG is not healthy: rpc error: code = Unimplemented desc = "
                           f"unknown service {api}"), None, set(), False
        try:
            systemd, sandbox, where = cri_settings(info["config"])
        except (OSError, tomllib.TOMLDecodeError) as e:
            return False, f"container runtime config {info['config']} unreadable: {e}", None, set(), False
        images = self.containerd_images()
        version = f"containerd://{info['version']}"
        want = self.cgroup_driver == "systemd"
        if systemd != want:
            if want:
                msg = (f'container runtime is not ready: cgroup driver mismatch: kubelet cgroupDriver is '
                       f'"systemd" but containerd ({info["config"]}) has {where} = false; RunPodSandbox fails: '
                       f'failed to create containerd task: OCI runtime create failed: cgroup path '
                       f'"kubepods-besteffort.slice:cri-containerd" is not an absolute path')
            else:
                msg = (f'container runtime is not ready: cgroup driver mismatch: kubelet cgroupDriver is '
                       f'"cgroupfs" but containerd ({info["config"]}) has {where} = true; RunPodSandbox fails: '
                       f'expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, '
                       f'got "/kubepods/besteffort/pod" instead')
            return False, msg, version, images, False
        err = self.network_check(*cri_cni_dirs(info["config"]), "containerd")
        if err:
            return False, err, version, images, False
        if K.normalize_image(sandbox) not in images:
            registry = K.normalize_image(sandbox).split("/")[0]
            return False, (f'failed to get sandbox image "{sandbox}": failed to pull image "{sandbox}": failed to pull '
                           f'and unpack image "{K.normalize_image(sandbox)}": failed to resolve reference: dial tcp: '
                           f'lookup {registry}: no such host'), version, images, False
        return True, "", version, images, True

    def cri_dockerd_state(self):
        down = "container runtime is down, PLEG is not healthy: pleg was last seen active 3m0s ago; threshold is 3m0s"
        info = cri_dockerd_info(self.sock)
        if info is None:
            return False, down, None, set(), False
        if not info.get("ok"):
            return False, f"{down}: {info.get('error')}", None, set(), False
        dsock = info["dockerEndpoint"].replace("unix://", "")
        try:
            imgs = docker_get(dsock, "/images/json")
        except OSError:
            return False, down, None, set(), False
        names = docker_names(imgs)
        self.docker_sock = dsock
        version = f"docker://{info.get('version')}"
        if info.get("cgroupDriver") != self.cgroup_driver:
            return False, (f'container runtime is not ready: cgroup driver mismatch: kubelet cgroupDriver is '
                           f'"{self.cgroup_driver}" but docker (through cri-dockerd) uses '
                           f'"{info.get("cgroupDriver")}"'), version, names, False
        # The sandbox image is cri-dockerd's own --pod-infra-container-image: the kubelet's
        # flag of that name does not reach a remote runtime.
        pause = info.get("podInfraImage", "registry.k8s.io/pause:3.9")
        if info.get("networkPlugin", "cni") == "cni":
            err = self.network_check(info.get("cniConfDir", "/etc/cni/net.d"),
                                     info.get("cniBinDir", "/opt/cni/bin"), "docker")
            if err:
                return False, err, version, names, K.normalize_image(pause) in names
        else:
            self.pod_net_err = None
        return True, "", version, names, K.normalize_image(pause) in names

    def network_check(self, conf_dir, bin_dir, runtime):
        """The node's network readiness for a CNI setup: an error for the node (and pods), a
        pod-only error (a plugin missing), or None; as dockershim/cri-dockerd or containerd say it."""
        self.cni_conf_dir = conf_dir
        node_err, missing = cni_network(conf_dir, bin_dir)
        if node_err:
            if runtime == "containerd":
                msg = ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                       "message:Network plugin returns error: cni plugin not initialized")
            else:
                msg = ("runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                       "message:docker: network plugin is not ready: cni config uninitialized")
            self.pod_net_err = msg
            return msg
        if missing:
            name, plugin = missing
            if runtime == "containerd":
                self.pod_net_err = (f'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup '
                                    f'network for sandbox: plugin type="{plugin}" name="{name}" failed (add): '
                                    f'failed to find plugin "{plugin}" in path [{bin_dir}]')
            else:
                self.pod_net_err = (f'networkPlugin cni failed to set up pod network: failed to find plugin '
                                    f'"{plugin}" in path [{bin_dir}]')
        else:
            self.pod_net_err = None
        return None

    def containerd_images(self):
        # containerd's metadata database changes when images come and go: list only then
        stamp = None
        for root in ("/var/lib/containerd",):
            try:
                st = os.stat(f"{root}/io.containerd.metadata.v1.bolt/meta.db")
                stamp = (st.st_mtime_ns, st.st_size)
            except OSError:
                pass
        if stamp is not None and stamp == self.image_cache[0]:
            return self.image_cache[1]
        rc, out, _ = ctr(self.sock, "-n", "k8s.io", "images", "ls", "-q")
        names = {K.normalize_image(x) for x in out.split() if not x.startswith("sha256:")} if rc == 0 else set()
        self.image_cache = (stamp, names)
        return names

    # -- containers that run for real (host processes)
    @property
    def runtime_kind(self):
        return "containerd" if self.runtime == "remote" and self.via == "containerd" else "docker"

    def host_cid(self, pod, cname):
        md = pod["metadata"]
        return f"{self.runtime_kind}_{md.get('namespace', 'default')}_{md['name']}_{cname}"

    @staticmethod
    def host_containers(pod):
        names = (pod.get("metadata", {}).get("annotations") or {}).get(HOST_PROCESS, "")
        return {n.strip() for n in names.split(",") if n.strip()}

    def host_process(self, pod, c, static, start=True):
        """The state of container `c` of `pod` run as a host process: ("running", record),
        ("crashloop", record) while backing off after an exit, or (None, record) when not
        running; starts (or restarts) it when `start`."""
        cid = self.host_cid(pod, c["name"])
        rec = C.read_record(cid)
        if rec and "exitCode" not in rec and C.alive(rec.get("pid", 0)):
            return "running", rec
        if not start:
            return ("crashloop" if rec else None), rec
        restarts = (rec or {}).get("restartCount", 0) + (1 if rec else 0)
        # CrashLoopBackOff: a container that ran a while restarts at once, one that keeps
        # exiting quickly waits 10 s, 20 s, ... up to 5 min
        quick = 0
        if rec and rec.get("finished", 0) - rec.get("started", 0) < 60:
            quick = rec.get("quickExits", 0) + 1
        if rec and quick and time.time() - rec.get("finished", 0) < min(10 * 2 ** (quick - 1), 300):
            return "crashloop", rec
        env = {"PATH": C.PATH, "HOME": "/root"}
        for e in c.get("env") or []:
            if "name" in e and "value" in e:
                env[e["name"]] = str(e["value"])
        argv = list(c.get("command") or []) + list(c.get("args") or [])
        if not argv:
            return None, rec
        md = pod["metadata"]
        log = f"/var/log/pods/{md.get('namespace', 'default')}_{md['name']}/{c['name']}/{restarts}.log"
        klog("I", "Starting container as a host process", pod=f"{md.get('namespace')}/{md['name']}",
             container=c["name"], runtime=self.runtime_kind)
        rec = C.start(cid, self.runtime_kind, argv, env, log,
                      extra={"owner": "kubelet", "restartCount": restarts, "static": static, "pod": md["name"],
                             "quickExits": quick})
        return ("running" if rec and "exitCode" not in rec else "crashloop"), rec

    def static_manifests(self):
        """The static pods of staticPodPath, named as their mirror pods."""
        out = []
        if not self.static_path or not os.path.isdir(self.static_path):
            return out
        for f in sorted(os.listdir(self.static_path)):
            try:
                with open(os.path.join(self.static_path, f)) as fh:
                    pod = json.load(fh)
                name = pod["metadata"]["name"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if not name.endswith("-" + self.node):
                pod["metadata"]["name"] = f"{name}-{self.node}"
            pod["metadata"].setdefault("namespace", "kube-system")
            out.append(pod)
        return out

    def sync_host_processes(self, images, sandbox_ok, pods=None):
        """Start the host-process containers that should run and stop the ones whose pod
        is gone: static pods' from the manifests (no API needed), the API's pods' when
        `pods` (the node's pods from the API) is given."""
        static = pods is None
        wanted = set()
        for pod in (self.static_manifests() if static else pods):
            if not static and (pod["metadata"].get("annotations") or {}).get("kubernetes.io/config.mirror"):
                continue
            for c in pod["spec"].get("containers", []):
                if c["name"] in self.host_containers(pod):
                    wanted.add(self.host_cid(pod, c["name"]))
                    if sandbox_ok and K.normalize_image(c.get("image", "")) in images:
                        self.host_process(pod, c, static)
        prefix = self.runtime_kind + "_"
        try:
            names = os.listdir(C.RECORDS)
        except OSError:
            names = []
        for f in names:
            cid = f[:-5] if f.endswith(".json") else None
            if not cid or not cid.startswith(prefix) or cid in wanted:
                continue
            rec = C.running(cid)
            if rec and rec.get("owner") == "kubelet" and bool(rec.get("static")) == static:
                klog("I", "Killing container of a pod that is gone", container=cid)
                C.stop(cid)

    # -- node status
    def register(self):
        code, node = self.call("GET", f"/api/v1/nodes/{self.node}")
        if code == 200:
            return node
        labels = {"kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}
        for kv in (self.flags.get("node-labels") or "").split(","):
            if "=" in kv:
                k, v = kv.split("=", 1)
                labels[k] = v
        taints = []
        for t in (self.flags.get("register-with-taints") or "").split(","):
            m = re.match(r"([^=:]+)(?:=([^:]*))?:(\w+)", t)
            if m:
                taints.append({k: v for k, v in (("key", m.group(1)), ("value", m.group(2)),
                                                 ("effect", m.group(3))) if v})
        code, node = self.call("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                                         "metadata": {"name": self.node, "labels": labels},
                                                         "spec": {"taints": taints} if taints else {}})
        klog("I", "Successfully registered node", node=self.node)
        return node

    def node_status(self, ready, message, rt_version, images, old):
        now = K.rfc3339(time.time())
        prev = {c["type"]: c for c in old.get("status", {}).get("conditions", [])}

        def cond(t, status, reason, msg):
            p = prev.get(t)
            lt = p["lastTransitionTime"] if p and p.get("status") == status else now
            return {"type": t, "status": status, "reason": reason, "message": msg,
                    "lastHeartbeatTime": now, "lastTransitionTime": lt}

        try:
            with open("/proc/meminfo") as f:
                mem_kb = int(f.readline().split()[1])
        except OSError:
            mem_kb = 0
        osimg = "Linux"
        try:
            with open("/etc/os-release") as f:
                m = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M)
                osimg = m.group(1) if m else osimg
        except OSError:
            pass
        conds = [cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                 cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                 cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                 cond("Ready", "True", "KubeletReady", "kubelet is posting ready status") if ready
                 else cond("Ready", "False", "KubeletNotReady", message)]
        cap = {"cpu": str(os.cpu_count() or 1), "memory": f"{mem_kb}Ki", "pods": "110",
               "ephemeral-storage": "263174212Ki", "hugepages-2Mi": "0"}
        status = {
            "conditions": conds, "capacity": cap, "allocatable": dict(cap),
            "addresses": [{"type": "InternalIP", "address": self.node_ip or ""},
                          {"type": "Hostname", "address": self.node}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": hashlib.md5(self.node.encode()).hexdigest(),
                         "systemUUID": hashlib.md5(("uuid" + self.node).encode()).hexdigest(),
                         "bootID": BOOT_ID, "kernelVersion": os.uname().release, "osImage": osimg,
                         "containerRuntimeVersion": rt_version or
                         old.get("status", {}).get("nodeInfo", {}).get("containerRuntimeVersion", ""),
                         "kubeletVersion": f"v{self.version}", "kubeProxyVersion": f"v{self.version}",
                         "operatingSystem": "linux", "architecture": "amd64"},
            "images": [{"names": [n], "sizeBytes": 1982256} for n in sorted(images)][:50],
        }
        return status

    def post_node(self, ready, message, rt_version, images, force=False):
        code, node = self.call("GET", f"/api/v1/nodes/{self.node}")
        if code == 404:
            node = self.register()
        elif code != 200:
            return None
        status = self.node_status(ready, message, rt_version, images, node)
        key = json.dumps([ready, message, rt_version, sorted(images), self.node_ip])
        if not force and key == self.last_node_status and time.time() - self.last_post < HEARTBEAT:
            return node
        code, node2 = self.call("PATCH", f"/api/v1/nodes/{self.node}/status", {"status": status},
                                "application/merge-patch+json")
        if code == 200:
            self.last_post = time.time()
            self.last_node_status = key
            if not ready:
                klog("E", "Node not ready", node=self.node, message=message)
            return node2
        return node

    def renew_lease(self):
        """The node's Lease in kube-node-lease, renewed each loop as a kubelet does."""
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node}"
        code, _ = self.call("PATCH", path, {"spec": {"renewTime": now, "holderIdentity": self.node}},
                            "application/merge-patch+json")
        if code == 404:
            self.call("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                      {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": self.node, "namespace": "kube-node-lease"},
                       "spec": {"holderIdentity": self.node, "leaseDurationSeconds": 40, "renewTime": now}})

    # -- pods
    def sync_pods(self, node, images, sandbox_ok, rt_version):
        code, pods = self.call("GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{self.node}")
        if code != 200:
            return
        prefix = rt_version.split("://")[0] if rt_version else "docker"
        cidr = (node or {}).get("spec", {}).get("podCIDR", "10.244.0.0/24")
        base = cidr.split("/")[0].rsplit(".", 1)[0]
        self.sync_host_processes(images, sandbox_ok, pods["items"])
        ips, ip_errs = {}, {}
        ipam = host_local_ipam(self.cni_conf_dir) if self.cni_conf_dir and sandbox_ok else None
        if ipam and not self.pod_net_err:
            ips, ip_errs = self.host_local(ipam, pods["items"])
        for pod in pods["items"]:
            uid = pod["metadata"]["uid"]
            st = self.pod_status(pod, images, sandbox_ok, prefix, base, ips.get(uid), ip_errs.get(uid))
            if st != pod.get("status"):
                md = pod["metadata"]
                self.call("PATCH", f"/api/v1/namespaces/{md['namespace']}/pods/{md['name']}/status",
                          {"status": st}, "application/merge-patch+json")
        self.mirror_pods({p["metadata"]["name"] for p in pods["items"]})

    def host_local(self, ipam, pods):
        """host-local IPAM for this runtime's sandboxes: ({pod uid: IP}, {pod uid: error})."""
        net, data_dir, start, end = ipam
        kind = self.runtime_kind
        d = os.path.join(data_dir, net)
        mine_path = f"/var/lib/kubelet/lab-sandboxes-{kind}.json"  # the sandboxes this runtime made
        try:
            with open(mine_path) as f:
                mine = set(json.load(f))
        except (OSError, ValueError):
            mine = set()
        os.makedirs(d, exist_ok=True)
        held = {}  # sandbox id -> IP
        for name in os.listdir(d):
            if name.startswith("last_reserved_ip") or name == "lock":
                continue
            try:
                with open(os.path.join(d, name)) as f:
                    held[f.read().split("\r\n")[0].split("\n")[0].strip()] = name
            except OSError:
                continue
        want = {}
        for pod in pods:
            if pod["spec"].get("hostNetwork") or pod["metadata"].get("deletionTimestamp"):
                continue
            uid = pod["metadata"]["uid"]
            want[uid] = hashlib.sha256(f"{uid} {kind} sandbox".encode()).hexdigest()
        # the kubelet tears down the sandboxes of pods that left the node: CNI DEL frees the IP
        for sid in mine - set(want.values()):
            if sid in held:
                try:
                    os.unlink(os.path.join(d, held.pop(sid)))
                except OSError:
                    pass
            mine.discard(sid)
        used = set(held.values())
        ips, errs = {}, {}
        for uid, sid in want.items():
            if sid in held:
                ips[uid] = held[sid]
                mine.add(sid)
                continue
            free = next((ip4_text(n) for n in range(start, end + 1) if ip4_text(n) not in used), None)
            if free is None:
                why = (f"failed to allocate for range 0: no IP addresses available in range set: "
                       f"{ip4_text(start)}-{ip4_text(end)}")
                pod = next(p for p in pods if p["metadata"]["uid"] == uid)
                md = pod["metadata"]
                errs[uid] = (f'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup '
                             f'network for sandbox "{sid}": plugin type="bridge" name="{net}" failed (add): {why}'
                             if kind == "containerd" else
                             f'networkPlugin cni failed to set up pod "{md["name"]}_{md.get("namespace", "default")}" '
                             f'network: {why}')
                continue
            with open(os.path.join(d, free), "w") as f:
                f.write(f"{sid}\r\neth0")
            with open(os.path.join(d, "last_reserved_ip.0"), "w") as f:
                f.write(free)
            used.add(free)
            held[sid] = free
            mine.add(sid)
            ips[uid] = free
        try:
            with open(mine_path + ".tmp", "w") as f:
                json.dump(sorted(mine), f)
            os.replace(mine_path + ".tmp", mine_path)
        except OSError:
            pass
        return ips, errs

    def pod_status(self, pod, images, sandbox_ok, prefix, base, ip=None, ip_err=None):
        old = pod.get("status", {})
        now = K.rfc3339(time.time())
        prev = {c["name"]: c for c in old.get("containerStatuses", []) or []}
        out, all_ok, all_started = [], True, True
        hostproc = self.host_containers(pod)
        mirror = bool((pod["metadata"].get("annotations") or {}).get("kubernetes.io/config.mirror"))
        crash_on = {r.strip() for r in ((pod["metadata"].get("annotations") or {}).get(CRASH_ON) or "").split(",")}
        for c in pod["spec"].get("containers", []):
            img = K.normalize_image(c.get("image", ""))
            p = prev.get(c["name"], {})
            cid = f"{prefix}://" + hashlib.sha256((pod["metadata"]["uid"] + c["name"] + prefix).encode()).hexdigest()
            crash = None
            running_before = p.get("containerID") == cid and "running" in p.get("state", {})
            pull_error = None
            net_err = self.pod_net_err or ip_err
            net_blocked = net_err and not pod["spec"].get("hostNetwork")
            if sandbox_ok and not net_blocked and not running_before:
                pull_error = self.pull_if_needed(c, img, images, prefix)
            hp, rec = (None, None)
            if c["name"] in hostproc and sandbox_ok and img in images:
                # a mirror pod's container is started from the manifest (sync_host_processes)
                hp, rec = self.host_process(pod, c, mirror, start=not mirror)
                if hp == "running" and p.get("containerID") != cid:
                    p = {}
                if hp == "running" and rec and p.get("restartCount", 0) != rec.get("restartCount", 0):
                    p = {"restartCount": rec.get("restartCount", 0)}
            if hp == "crashloop" or (c["name"] in hostproc and sandbox_ok and img in images and hp is None):
                rec = rec or {}
                state, ready = {"waiting": {"reason": "CrashLoopBackOff",
                                            "message": f"back-off restarting failed container {c['name']} in pod "
                                                       f"{pod['metadata']['name']}"}}, False
                p = dict(p, restartCount=rec.get("restartCount", 0),
                         lastState={"terminated": {"exitCode": rec.get("exitCode", 1),
                                                   "reason": "Error" if rec.get("exitCode", 1) else "Completed"}})
            elif not sandbox_ok:
                state, ready = {"waiting": {"reason": "ContainerCreating"}}, False
            elif net_blocked:
                state, ready = {"waiting": {"reason": "ContainerCreating", "message": net_err}}, False
            elif pull_error:
                state, ready = {"waiting": pull_error}, False
            elif img in images and prefix in crash_on:
                crash = self.crash_loop(pod, c["name"], p, prefix, cid)
                state, ready = crash["state"], False
            elif img in images:
                started = p.get("state", {}).get("running", {}).get("startedAt") \
                    if p.get("containerID") == cid else None
                state, ready = {"running": {"startedAt": started or now}}, True
            else:
                was = p.get("state", {}).get("waiting", {}).get("reason")
                reason = "ImagePullBackOff" if was in ("ErrImagePull", "ImagePullBackOff") else "ErrImagePull"
                registry = img.split("/")[0]
                msg = (f'Back-off pulling image "{c.get("image")}"' if reason == "ImagePullBackOff" else
                       f'rpc error: code = Unknown desc = failed to pull and unpack image "{img}": failed to resolve '
                       f'reference "{img}": dial tcp: lookup {registry}: no such host')
                state, ready = {"waiting": {"reason": reason, "message": msg}}, False
            all_ok = all_ok and ready
            if hp == "running" and rec:
                state = {"running": {"startedAt": K.rfc3339(rec.get("started", time.time()))}}
                p = dict(p, restartCount=rec.get("restartCount", 0))
            all_started = all_started and (ready or crash is not None or hp == "crashloop")
            cs = {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": ready,
                  "restartCount": p.get("restartCount", 0), "started": ready, "state": state,
                  "lastState": p.get("lastState", {})}
            if crash is not None:
                cs.update(restartCount=crash["restarts"], lastState=crash["last"], containerID=crash["id"],
                          imageID=img, started=False)
            if ready:
                cs["containerID"] = cid
                cs["imageID"] = ("docker-pullable://" if prefix == "docker" else "") + img
            out.append(cs)
        oldc = {c["type"]: c for c in old.get("conditions", []) or []}

        def cond(t, ok):
            s = "True" if ok else "False"
            o = oldc.get(t)
            c = {"type": t, "status": s, "lastProbeTime": None,
                 "lastTransitionTime": o["lastTransitionTime"] if o and o.get("status") == s else now}
            if not ok and t in ("Ready", "ContainersReady"):
                waiting = [x["name"] for x in out if not x["ready"]]
                c["reason"] = "ContainersNotReady"
                c["message"] = f"containers with unready status: [{' '.join(waiting)}]"
            return c

        ip = self.node_ip if pod["spec"].get("hostNetwork") else ip or \
            f"{base}.{int(hashlib.md5(pod['metadata']['uid'].encode()).hexdigest(), 16) % 250 + 2}"
        if ip_err and not pod["spec"].get("hostNetwork"):
            sandbox_ok = False  # no sandbox, no pod IP
        # A container that started and keeps crashing leaves the pod Running (restartPolicy
        # Always), but not Ready: kubectl shows CrashLoopBackOff.
        st = {"phase": "Running" if all_started else "Pending",
              "conditions": [cond("Initialized", True), cond("Ready", all_ok), cond("ContainersReady", all_ok),
                             cond("PodScheduled", True)],
              "hostIP": self.node_ip, "podIP": ip if sandbox_ok else None, "startTime": old.get("startTime") or now,
              "containerStatuses": out, "qosClass": old.get("qosClass", "BestEffort")}
        if st["podIP"]:
            st["podIPs"] = [{"ip": st["podIP"]}]
        else:
            del st["podIP"]
        return st

    def pull_if_needed(self, c, img, images, prefix):
        """Pull as the kubelet does, per imagePullPolicy (Always for `:latest` or no tag, else
        IfNotPresent), through the runtime it uses; only the lab's registry is reachable.
        None when the image is there; else the container's waiting state."""
        ref = c.get("image", "")
        policy = c.get("imagePullPolicy") or (
            "Always" if "@" not in ref and (not K.image_has_tag(ref) or ref.endswith(":latest")) else "IfNotPresent")
        if policy == "Never" or (policy == "IfNotPresent" and img in images):
            if img in images:
                return None
            return {"reason": "ErrImageNeverPull",
                    "message": f'Container image "{ref}" is not present with pull policy of Never'}
        if not self.registry_host or K.image_registry(ref) != self.registry_host:
            if img in images:
                return None  # air-gapped: an Always pull elsewhere cannot be checked; the lab lets it run
            return None  # the caller reports the air-gapped ErrImagePull
        failed = self.pull_failed.get(img)
        if failed and time.time() - failed[0] < 10:
            return {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{ref}"'}
        if prefix == "docker":
            try:
                p = subprocess.run(["docker", "-H", f"unix://{self.docker_sock}", "pull", img], capture_output=True,
                                   text=True, timeout=60)
                rc, err = p.returncode, p.stderr.strip()
            except (OSError, subprocess.TimeoutExpired) as e:
                rc, err = 1, str(e)
            msg = f"rpc error: code = Unknown desc = {err}"
        else:
            args = cri_pull_args(self.ctd_info["config"] if self.ctd_info else "/etc/containerd/config.toml",
                                 K.image_registry(ref))
            rc, _, err = ctr(self.sock, "-n", "k8s.io", "images", "pull", *args, img, timeout=60)
            err = err.strip().splitlines()[-1] if err.strip() else ""
            msg = (f'rpc error: code = Unknown desc = failed to pull and unpack image "{img}": '
                   f'{err.removeprefix("ctr: ")}')
        if rc == 0:
            self.pull_failed.pop(img, None)
            images.add(img)
            self.image_cache = (None, set())
            klog("I", "Pulled image", image=ref)
            return None
        self.pull_failed[img] = (time.time(), msg)
        klog("E", "Failed to pull image", image=ref, err=msg)
        return {"reason": "ErrImagePull", "message": msg}

    def crash_loop(self, pod, name, prev, prefix, cid):
        """A container that exits 1 each time it starts (the pod's CRASH_ON annotation names
        the runtime): restarted with the kubelet's back-off (10 s, doubled each time, at most
        5 min), CrashLoopBackOff while it waits, as `kubectl get pods` shows it."""
        key = (pod["metadata"]["uid"], name, prefix)
        now = time.time()
        st = self.crashes.get(key)
        if st is None:
            # a restarted kubelet goes on counting from what it reported (the runtime
            # remembers the dead containers)
            was = prev.get("restartCount", 0) if str(prev.get("containerID", "")).startswith(prefix + "://") else 0
            st = self.crashes[key] = {"restarts": was, "next": now}
        if now >= st["next"]:
            st["restarts"] += 1
            started = now - 1
            st["finished"] = (started, now)
            st["next"] = now + min(10 * 2 ** (st["restarts"] - 1), 300)
        started, finished = st.get("finished", (now - 1, now))
        back_off = min(10 * 2 ** (st["restarts"] - 1), 300)
        podname = f'{pod["metadata"]["name"]}_{pod["metadata"].get("namespace", "default")}({pod["metadata"]["uid"]})'
        ident = f"{cid[:-8]}{st['restarts']:08d}"
        return {"restarts": st["restarts"], "id": ident,
                "state": {"waiting": {"reason": "CrashLoopBackOff",
                                      "message": f"back-off {K.go_duration(back_off)} restarting failed "
                                                 f"container={name} pod={podname}"}},
                "last": {"terminated": {"exitCode": 1, "reason": "Error", "containerID": ident,
                                        "startedAt": K.rfc3339(started), "finishedAt": K.rfc3339(finished)}}}

    def mirror_pods(self, existing):
        if not self.static_path or not os.path.isdir(self.static_path):
            return
        for f in sorted(os.listdir(self.static_path)):
            try:
                with open(os.path.join(self.static_path, f)) as fh:
                    pod = json.load(fh)
            except (OSError, ValueError):
                continue
            name = pod["metadata"]["name"]
            if not name.endswith("-" + self.node):
                name = f"{name}-{self.node}"
            if name in existing:
                continue
            pod["metadata"]["name"] = name
            pod["metadata"].setdefault("annotations", {})["kubernetes.io/config.mirror"] = "lab"
            pod["spec"]["nodeName"] = self.node
            self.call("POST", f"/api/v1/namespaces/{pod['metadata'].get('namespace', 'kube-system')}/pods", pod)

    def run(self):
        klog("I", f"Kubelet version kubeletVersion=\"v{self.version}\"")
        if not self.api:
            raise Fatal("failed to run Kubelet: no kubeconfig: --kubeconfig or --bootstrap-kubeconfig must name a "
                        "readable file")
        self.node_ip = self.my_ip()
        try:
            self.startup_checks()
        except Fatal as e:
            try:
                self.post_node(False, str(e), None, set(), force=True)
            except OSError:
                pass
            raise
        klog("I", f"Container runtime initialized endpoint=\"{self.endpoint}\" runtime=\"{self.runtime}\" "
                  f"cgroupDriver=\"{self.cgroup_driver}\"")
        while True:
            t0 = time.time()
            try:
                ready, msg, rt_version, images, sandbox_ok = self.runtime_state()
                if ready or self.via != "containerd" and rt_version:
                    try:
                        self.sync_host_processes(images, sandbox_ok)
                    except Exception as e:  # a bug here must not stop the node's status
                        klog("E", "Syncing host-process containers failed", err=f"{type(e).__name__}: {e}")
                node = self.post_node(ready, msg, rt_version, images)
                if time.time() - getattr(self, "last_lease", 0) >= HEARTBEAT:
                    self.renew_lease()
                    self.last_lease = time.time()
                if ready or self.via != "containerd" and rt_version:
                    self.sync_pods(node, images, sandbox_ok, rt_version)
            except OSError as e:
                klog("E", "Error updating node status, will retry", err=str(e))
            time.sleep(max(0.2, LOOP - (time.time() - t0)))


BOOT_ID = hashlib.md5(str(time.time()).encode()).hexdigest()


def set_process_name(name):
    """Show as the real daemon in ps, pgrep and systemctl status (comm), not as python3."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, name, 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def main(argv):
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    set_process_name(b"kubelet")
    if argv and argv[0] in ("--version", "-version"):
        print(f"Kubernetes v{version()[0]}")
        return 0
    try:
        k = Kubelet(argv)
        if k.flags.get("version") == "true":
            print(f"Kubernetes v{k.version}")
            return 0
        k.run()
    except Fatal as e:
        klog("E", "command failed", err=str(e))
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
