#!/usr/bin/python3
"""crictl for a lab host: the commands a migration uses, answered from the real runtime.

Debian 12 does not package cri-tools, and kubeadm nodes have crictl; this stand-in reads
/etc/crictl.yaml (runtime-endpoint, image-endpoint) or -r/--runtime-endpoint like crictl
1.26, and answers `version`, `info`, `images` (`-q`), `ps`, `pods` and `pull` from what
really answers on the endpoint: containerd (through `ctr`, so a disabled CRI plugin
fails as it does with crictl) or the lab's cri-dockerd (through Docker's API). No
containers run in the lab, so `ps` and `pods` list nothing.

Standard library only: this is a test fixture, not shipped code.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import k8s as K  # noqa: E402
from kubelet import cri_cni_dirs, cni_network, cri_dockerd_info, cri_settings, containerd_process, ctr, docker_get, socket_answers  # noqa: E402

DEFAULTS = ["unix:///var/run/dockershim.sock", "unix:///run/containerd/containerd.sock",
            "unix:///run/crio/crio.sock", "unix:///var/run/cri-dockerd.sock"]


def fatal(msg):
    print(f'time="{__import__("time").strftime("%Y-%m-%dT%H:%M:%SZ")}" level=fatal msg="{msg}"', file=sys.stderr)
    sys.exit(1)


def config(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"^([a-z-]+):\s*(.*?)\s*$", line)
                if m:
                    out[m.group(1)] = m.group(2).strip("\"'")
    except OSError:
        pass
    return out


class Runtime:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.sock = endpoint.replace("unix://", "")
        if not socket_answers(self.sock):
            fatal(f'validate service connection: validate CRI v1 runtime API for endpoint "{endpoint}": rpc error: '
                  f'code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix '
                  f'{self.sock}: connect: no such file or directory"')
        self.docker = cri_dockerd_info(self.sock)
        if self.docker is None:
            rc, out, _ = ctr(self.sock, "plugins", "ls")
            cri = [ln.split() for ln in out.splitlines() if re.match(r"io\.containerd\.grpc\.v1\s+cri\s", ln)]
            if rc != 0 or not cri or cri[0][-1] != "ok":
                fatal(f'validate service connection: validate CRI v1 runtime API for endpoint "{endpoint}": rpc '
                      f'error: code = Unimplemented desc = unknown service runtime.v1.RuntimeService')
        elif not self.docker.get("ok"):
            fatal(f"getting the runtime version: rpc error: code = Unknown desc = {self.docker.get('error')}")

    def version(self):
        if self.docker:
            return "docker", self.docker["version"]
        rc, out, _ = ctr(self.sock, "version")
        m = re.search(r"Server:\s*\n\s*Version:\s*(\S+)", out)
        return "containerd", m.group(1) if m else "unknown"

    def images(self):
        if self.docker:
            out = []
            for i in docker_get(self.docker["dockerEndpoint"].replace("unix://", ""), "/images/json"):
                for t in i.get("RepoTags") or []:
                    out.append((K.normalize_image(t), i["Id"], i.get("Size", 0)))
            return out
        rc, out, _ = ctr(self.sock, "-n", "k8s.io", "images", "ls")
        imgs = []
        for line in out.splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 4 and not cols[0].startswith("sha256:"):
                imgs.append((cols[0], cols[2], cols[3] + (cols[4] if len(cols) > 4 else "")))
        return imgs

    def info(self):
        name, ver = self.version()
        info = {"status": {"conditions": [
            {"type": "RuntimeReady", "status": True, "reason": "", "message": ""},
            {"type": "NetworkReady", "status": True, "reason": "", "message": ""}]}}
        if not self.docker:
            proc = containerd_process(self.sock)
            cfg = proc[2] if proc else "/etc/containerd/config.toml"
            systemd, sandbox, _ = cri_settings(cfg)
            conf_dir, bin_dir = cri_cni_dirs(cfg)
            if cni_network(conf_dir, bin_dir)[0]:
                info["status"]["conditions"][1] = {
                    "type": "NetworkReady", "status": False, "reason": "NetworkPluginNotReady",
                    "message": "Network plugin returns error: cni plugin not initialized"}
            info["config"] = {"sandboxImage": sandbox, "cni": {"binDir": bin_dir, "confDir": conf_dir}, "containerd": {"defaultRuntimeName": "runc", "runtimes": {
                "runc": {"runtimeType": "io.containerd.runc.v2", "options": {"SystemdCgroup": systemd}}}},
                "containerdRootDir": "/var/lib/containerd", "stateDir": "/run/containerd/io.containerd.grpc.v1.cri"}
        return info


def main(argv):
    cfg_path = "/etc/crictl.yaml"
    endpoint = None
    args = []
    it = iter(argv)
    for a in it:
        if a in ("-r", "--runtime-endpoint"):
            endpoint = next(it, "")
        elif a.startswith("--runtime-endpoint="):
            endpoint = a.split("=", 1)[1]
        elif a in ("-c", "--config"):
            cfg_path = next(it, cfg_path)
        elif a.startswith("--config="):
            cfg_path = a.split("=", 1)[1]
        elif a in ("-i", "--image-endpoint", "-t", "--timeout"):
            next(it, None)
        elif a.startswith(("--image-endpoint=", "--timeout=")) or a in ("-D", "--debug"):
            pass
        else:
            args.append(a)
    if not args or args[0] in ("-h", "--help", "help"):
        print("crictl (rtmig lab stand-in): version, info, images [-q], ps [-a], pods, pull IMAGE")
        return 0
    if args[0] in ("--version", "-v"):
        print("crictl version v1.26.0")
        return 0
    endpoint = endpoint or config(cfg_path).get("runtime-endpoint")
    if not endpoint:
        print(f'time="" level=warning msg="runtime connect using default endpoints: [{" ".join(DEFAULTS)}]. As the '
              'default settings are now deprecated, you should set the endpoint instead."', file=sys.stderr)
        endpoint = next((e for e in DEFAULTS if socket_answers(e.replace("unix://", ""))), DEFAULTS[0])
    rt = Runtime(endpoint)
    cmd, rest = args[0], args[1:]
    if cmd == "version":
        name, ver = rt.version()
        print(f"Version:  0.1.0\nRuntimeName:  {name}\nRuntimeVersion:  {ver}\nRuntimeApiVersion:  v1")
    elif cmd == "info":
        print(json.dumps(rt.info(), indent=2))
    elif cmd in ("images", "image", "img"):
        imgs = rt.images()
        if "-q" in rest or "--quiet" in rest:
            for _, iid, _ in imgs:
                print(iid)
        else:
            print(f"{'IMAGE':<50} {'TAG':<15} {'IMAGE ID':<15} SIZE")
            for ref, iid, size in imgs:
                name, _, tag = ref.rpartition(":")
                print(f"{name:<50} {tag:<15} {iid.replace('sha256:', '')[:13]:<15} {size}")
    elif cmd == "ps":
        print("CONTAINER           IMAGE               CREATED             STATE               NAME                "
              "ATTEMPT             POD ID              POD")
    elif cmd == "pods":
        print("POD ID              CREATED             STATE               NAME                NAMESPACE           "
              "ATTEMPT             RUNTIME")
    elif cmd == "pull":
        ref = K.normalize_image(rest[0]) if rest else ""
        fatal(f'pulling image: rpc error: code = Unknown desc = failed to pull and unpack image "{ref}": failed to '
              f'resolve reference "{ref}": dial tcp: lookup {ref.split("/")[0]}: no such host')
    else:
        fatal(f'crictl stand-in: command "{cmd}" is not modelled in the lab')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
