#!/usr/bin/python3
"""Turn a lab spec (JSON) into everything the lab's hosts and simulators read.

`render.py SPEC STATE_DIR` validates the spec (unknown keys and bad values are errors
that name the key), then writes under STATE_DIR:

  spec.json            the spec with every default filled in
  lab.env              shell variables for lab.sh (names, addresses, bridge)
  inventory.yaml       the Ansible inventory (printed last by `lab.sh up`)
  kubeconfig           the controller's kubeconfig (plain HTTP to the API simulator)
  ssh/                 client key, known_hosts, an ssh_config for convenience
  api/state.json       the API server's starting objects (nodes, workloads, PDBs)
  images/<host>.tar    a `docker save` archive of the host's starting images
  hosts/<host>/        the host's file system layers: host.json (mounts for init.py),
                       etc/ usr/ var/ opt/ (overlay upper dirs), run/ tmp/ home/ docker/
                       containerd/ (bind-mounted), w/ (overlay work dirs)

lab.sh does the privileged plumbing (namespaces, veth, bridge, processes) with these.

Standard library only: this is a test fixture, not shipped code.
"""
import ipaddress
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import images as IMG  # noqa: E402
import k8s as K  # noqa: E402

DEFAULT_PATCH = {17: 17, 18: 20, 19: 16, 20: 15, 21: 14, 22: 17, 23: 17, 24: 17, 25: 16, 26: 15, 27: 16, 28: 15}
# minor -> (image repository, pause tag, etcd tag, coredns tag), as `kubeadm config images list`.
KUBEADM_IMAGES = {
    17: ("k8s.gcr.io", "3.1", "3.4.3-0", "1.6.5"),
    18: ("k8s.gcr.io", "3.2", "3.4.3-0", "1.6.7"),
    19: ("k8s.gcr.io", "3.2", "3.4.13-0", "1.7.0"),
    20: ("k8s.gcr.io", "3.2", "3.4.13-0", "1.7.0"),
    21: ("k8s.gcr.io", "3.4.1", "3.4.13-0", "v1.8.0"),
    22: ("registry.k8s.io", "3.5", "3.5.6-0", "v1.8.4"),
    23: ("registry.k8s.io", "3.6", "3.5.6-0", "v1.8.6"),
    24: ("registry.k8s.io", "3.7", "3.5.6-0", "v1.8.6"),
    25: ("registry.k8s.io", "3.8", "3.5.6-0", "v1.9.3"),
    26: ("registry.k8s.io", "3.9", "3.5.6-0", "v1.9.3"),
    27: ("registry.k8s.io", "3.9", "3.5.12-0", "v1.10.1"),
    28: ("registry.k8s.io", "3.9", "3.5.15-0", "v1.10.1"),
}
# /etc/containerd/config.toml as docker-ce's containerd.io package ships it.
CONTAINERD_IO_CONFIG = """#   Copyright 2018-2022 Docker Inc.

#   Licensed under the Apache License, Version 2.0 (the "License");
#   you may not use this file except in compliance with the License.
#   You may obtain a copy of the License at

#       http://www.apache.org/licenses/LICENSE-2.0

#   Unless required by applicable law or agreed to in writing, software
#   distributed under the License is distributed on an "AS IS" BASIS,
#   WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
#   See the License for the specific language governing permissions and
#   limitations under the License.

disabled_plugins = ["cri"]

#root = "/var/lib/containerd"
#state = "/run/containerd"
#subreaper = true
#oom_score = 0

#[grpc]
#  address = "/run/containerd/containerd.sock"
#  uid = 0
#  gid = 0

#[debug]
#  address = "/run/containerd/debug.sock"
#  uid = 0
#  gid = 0
#  level = "info"
"""

SPEC_KEYS = {
    "description": str, "masters": (list, int), "workers": (list, int), "registry_node": str,
    "registry_node_in_inventory": bool,
    "kubernetes": dict, "docker": dict, "containerd": dict, "images": dict,
    "workloads": list, "hosts": dict, "network": dict, "api": dict, "sysctls": dict,
    "inventory": dict, "registry": dict,
    "etcd": dict, "units": dict,
}
REGISTRY_KEYS = {"host": str, "images": list, "tls": bool}
# In a workload's image, `NAME:TAG@registry-digest` becomes `NAME:TAG@sha256:…` and
# `NAME:TAG@registry-digest-only` becomes `NAME@sha256:…`, with the digest the lab's
# registry gave when `up` pushed NAME:TAG.
DIGEST_PLACEHOLDERS = ("@registry-digest-only", "@registry-digest")
ETCD_KEYS = {"mode": str}
ETCD_MODES = ("stacked", "docker", "host")
# Kubespray's etcd image (etcd_image_repo, etcd_image_tag) for `etcd.mode: docker`.
KUBESPRAY_ETCD_IMAGE = "quay.io/coreos/etcd:v3.5.6"
# What kubeadm's preflight wants and every node in the field has.
DEFAULT_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1",
                   "net.bridge.bridge-nf-call-ip6tables": "1"}
K8S_KEYS = {"version": str, "cgroup_driver": str, "kubelet_flags": str, "dropin_dir": str, "layout": str,
            "cgroup_driver_flag": str, "network_plugin": str, "cni_bin_dir": str, "cni_conf_dir": str,
            "cri_dockerd_pause_image": str, "extra_kubelet_flags": str, "pod_ips_per_node": int}
INVENTORY_KEYS = {"groups": str, "kube_node_masters": list}
LAYOUTS = ("kubeadm", "kubespray")
# The CNI plugins the lab's network config names, installed as stubs in the plugin dir.
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")
DOCKER_KEYS = {"daemon_json": dict, "storage_driver": str, "iptables": bool}
CONTAINERD_KEYS = {"config_toml": str}
IMAGES_KEYS = {"all": list, "masters": list, "workers": list, "registry": list,
               "hosts": dict, "absent": dict, "kubeadm": bool, "workloads": bool, "size_mb": (int, dict)}
HOST_KEYS = {"sysctls": dict, "kubelet_flags": str, "dropin_dir": str, "cgroup_driver": str, "daemon_json": dict,
             "cgroup_driver_flag": str,
             "containerd_config": str, "disk_free_mb": int, "containerd_missing": bool,
             "kubelet_enabled": bool, "docker_enabled": bool, "network_plugin": str, "units": dict,
             "extra_kubelet_flags": str}
NETWORK_KEYS = {"bridge": str, "subnet": str, "netns_prefix": str, "veth_prefix": str}
API_KEYS = {"port": int, "node_monitor_grace_seconds": (int, float), "pod_eviction_429": bool}
FLAG_PLACES = ("kubeadm-flags.env", "dropin", "sysconfig")
DROPIN_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system")


class SpecError(Exception):
    pass


def check_keys(obj, allowed, where):
    if not isinstance(obj, dict):
        raise SpecError(f"`{where}` must be an object")
    for k, v in obj.items():
        if k not in allowed:
            raise SpecError(f"unknown key `{where}.{k}`, expected one of "
                            + ", ".join(f"`{a}`" for a in allowed))
        if not isinstance(v, allowed[k]) or (allowed[k] is int and isinstance(v, bool)):
            t = allowed[k]
            names = "/".join(x.__name__ for x in t) if isinstance(t, tuple) else t.__name__
            raise SpecError(f"`{where}.{k}` must be of type {names}, got {type(v).__name__}")


WORKLOAD_KINDS = ("Deployment", "DaemonSet", "Pod", "PodDisruptionBudget", "Namespace")


def check_workload(i, w, hosts):
    """What the API server and kubelet simulators read of a workload, checked here, so a
    wrong spec is one line naming its key rather than a traceback from `up`."""
    at = f"workloads[{i}]"

    def need(obj, key, typ, where):
        if not isinstance(obj, dict) or key not in obj:
            raise SpecError(f"`{where}.{key}` is missing")
        if not isinstance(obj[key], typ) or (typ is int and isinstance(obj[key], bool)):
            names = "/".join(x.__name__ for x in typ) if isinstance(typ, tuple) else typ.__name__
            raise SpecError(f"`{where}.{key}` must be of type {names}, got {type(obj[key]).__name__}")
        return obj[key]

    if not isinstance(w, dict):
        raise SpecError(f"`{at}` must be a Kubernetes object with `kind` and `metadata.name`")
    kind = need(w, "kind", str, at)
    if kind not in WORKLOAD_KINDS:
        raise SpecError(f"`{at}.kind` `{kind}` is not one of " + ", ".join(WORKLOAD_KINDS))
    md = need(w, "metadata", dict, at)
    need(md, "name", str, f"{at}.metadata")
    if "namespace" in md:
        if kind == "Namespace":
            raise SpecError(f"`{at}.metadata.namespace`: a Namespace is not namespaced")
        need(md, "namespace", str, f"{at}.metadata")
    for key in ("labels", "annotations"):
        if key in md:
            for k, v in need(md, key, dict, f"{at}.metadata").items():
                if not isinstance(v, str):
                    raise SpecError(f"`{at}.metadata.{key}.{k}` must be a string")
    if kind == "Namespace":
        return
    spec = need(w, "spec", dict, at)
    if kind == "PodDisruptionBudget":
        need(need(spec, "selector", dict, f"{at}.spec"), "matchLabels", dict, f"{at}.spec.selector")
        return
    if kind == "Pod":
        pod, where = spec, f"{at}.spec"
    else:
        need(need(spec, "selector", dict, f"{at}.spec"), "matchLabels", dict, f"{at}.spec.selector")
        if kind == "Deployment" and "replicas" in spec:
            need(spec, "replicas", int, f"{at}.spec")
        tpl = need(spec, "template", dict, f"{at}.spec")
        pod, where = need(tpl, "spec", dict, f"{at}.spec.template"), f"{at}.spec.template.spec"
    containers = need(pod, "containers", list, where)
    if not containers:
        raise SpecError(f"`{where}.containers` must list at least one container")
    for j, c in enumerate(containers):
        need(c, "name", str, f"{where}.containers[{j}]")
        need(c, "image", str, f"{where}.containers[{j}]")
    node = pod.get("nodeName") or pod.get("nodeSelector", {}).get("kubernetes.io/hostname")
    if node is not None and node not in hosts:
        raise SpecError(f"`{where}` pins the pod to `{node}`, which is no host of `masters` or `workers`")
def check_units(units, where):
    if not isinstance(units, dict):
        raise SpecError(f"`{where}` must be an object of unit name -> unit file text")
    for name, text in units.items():
        if not re.fullmatch(r"[A-Za-z0-9:_.@-]+\.(service|socket|target)", name):
            raise SpecError(f"`{where}.{name}`: a unit name ends in .service, .socket or .target")
        if not isinstance(text, str) or "[Unit]" not in text and "[Service]" not in text:
            raise SpecError(f"`{where}.{name}` must be the unit file's text (with a [Unit] or [Service] section)")


def names_of(value, prefix):
    if isinstance(value, int):
        return [f"{prefix}{i}" for i in range(value)]
    for n in value:
        if not isinstance(n, str) or not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?", n):
            raise SpecError(f"host name `{n}` must be a lowercase DNS label of at most 32 characters")
    return list(value)


def parse_version(v):
    m = re.fullmatch(r"v?(1)\.(\d+)(?:\.(\d+))?", v)
    if not m:
        raise SpecError(f"`kubernetes.version` must look like `1.23` or `1.23.17`, got `{v}`")
    minor = int(m.group(2))
    if minor not in KUBEADM_IMAGES:
        raise SpecError(f"`kubernetes.version` {v}: the lab models 1.17 to 1.28")
    patch = int(m.group(3)) if m.group(3) is not None else DEFAULT_PATCH[minor]
    return minor, f"1.{minor}.{patch}"


def default_network():
    """The network names a spec gets when it sets none: the lab's own (`rtmiglab0`,
    10.213.0.0/24), or with LAB_NET_ID=N (1-9) a second set, so that several labs (one
    per git worktree, say) run side by side."""
    n = os.environ.get("LAB_NET_ID", "")
    if not n:
        return {"bridge": "rtmiglab0", "subnet": "10.213.0.0/24",
                "netns_prefix": "rtmiglab-", "veth_prefix": "rtmlab"}
    if not (n.isdigit() and 1 <= int(n) <= 9):
        raise SpecError(f"LAB_NET_ID must be a number from 1 to 9, not `{n}`")
    return {"bridge": f"rtmiglab{n}", "subnet": f"10.{230 + int(n)}.0.0/24",
            "netns_prefix": f"rtmlab{n}-", "veth_prefix": f"rtml{n}v"}


def normalize(spec):
    check_keys(spec, SPEC_KEYS, "spec")
    masters = names_of(spec.get("masters", 3), "master")
    workers = names_of(spec.get("workers", 3), "worker")
    if not masters:
        raise SpecError("`masters` must name at least one host")
    allnames = masters + workers
    if len(set(allnames)) != len(allnames):
        raise SpecError("host names must be unique across `masters` and `workers`")
    k8s = dict(spec.get("kubernetes", {}))
    check_keys(k8s, K8S_KEYS, "kubernetes")
    minor, version = parse_version(k8s.get("version", "1.23"))
    plugin = k8s.get("network_plugin", "cni")
    if plugin not in ("cni", "kubenet"):
        raise SpecError("`kubernetes.network_plugin` must be `cni` or `kubenet`")
    if plugin == "kubenet" and minor >= 24:
        raise SpecError("`kubernetes.network_plugin` `kubenet` is a dockershim plugin: Kubernetes below 1.24 only")
    for key in ("cni_bin_dir", "cni_conf_dir"):
        d = k8s.get(key)
        if d is not None and not re.fullmatch(r"/(etc|opt|usr)(/[A-Za-z0-9._-]+)+", d):
            raise SpecError(f"`kubernetes.{key}` must be an absolute path under /etc, /opt or /usr, got `{d}`")
    if "cri_dockerd_pause_image" in k8s and minor < 24:
        raise SpecError("`kubernetes.cri_dockerd_pause_image` needs cri-dockerd: Kubernetes 1.24 or later")
    ips_per_node = k8s.get("pod_ips_per_node", 0)
    if isinstance(ips_per_node, bool) or not 0 <= ips_per_node <= 250:
        raise SpecError(f"`kubernetes.pod_ips_per_node` must be a number from 1 to 250 (0: no host-local range), "
                        f"got `{ips_per_node}`")
    cg = k8s.get("cgroup_driver", "systemd")
    if cg not in ("systemd", "cgroupfs"):
        raise SpecError(f"`kubernetes.cgroup_driver` must be `systemd` or `cgroupfs`, got `{cg}`")
    flags = k8s.get("kubelet_flags", "kubeadm-flags.env")
    if flags not in FLAG_PLACES:
        raise SpecError(f"`kubernetes.kubelet_flags` must be one of {', '.join(FLAG_PLACES)}, got `{flags}`")
    dropin = k8s.get("dropin_dir", "/etc/systemd/system")
    if dropin not in DROPIN_DIRS:
        raise SpecError(f"`kubernetes.dropin_dir` must be one of {', '.join(DROPIN_DIRS)}, got `{dropin}`")
    layout = k8s.get("layout", "kubeadm")
    if layout not in LAYOUTS:
        raise SpecError(f"`kubernetes.layout` must be one of {', '.join(LAYOUTS)}, got `{layout}`")
    cg_flag = k8s.get("cgroup_driver_flag", "")
    if cg_flag not in ("", "systemd", "cgroupfs"):
        raise SpecError(f"`kubernetes.cgroup_driver_flag` must be ``, `systemd` or `cgroupfs`, got `{cg_flag}`")
    inv = dict(spec.get("inventory", {}))
    check_keys(inv, INVENTORY_KEYS, "inventory")
    inv_groups = inv.get("groups", "kubespray" if layout == "kubespray" else "rtmig")
    if inv_groups not in ("rtmig", "kubespray"):
        raise SpecError(f"`inventory.groups` must be `rtmig` or `kubespray`, got `{inv_groups}`")
    kube_node_masters = inv.get("kube_node_masters", [])
    for m in kube_node_masters:
        if m not in masters:
            raise SpecError(f"`inventory.kube_node_masters` names `{m}`, which is not one of `masters`")
    if kube_node_masters and inv_groups != "kubespray":
        raise SpecError("`inventory.kube_node_masters` needs `inventory.groups` `kubespray`")
    docker = dict(spec.get("docker", {}))
    check_keys(docker, DOCKER_KEYS, "docker")
    daemon_json = docker.get("daemon_json")
    if daemon_json is None:
        daemon_json = {"exec-opts": [f"native.cgroupdriver={cg}"], "log-driver": "json-file"}
    containerd = dict(spec.get("containerd", {}))
    check_keys(containerd, CONTAINERD_KEYS, "containerd")
    images = dict(spec.get("images", {}))
    check_keys(images, IMAGES_KEYS, "images")
    network = dict(spec.get("network", {}))
    check_keys(network, NETWORK_KEYS, "network")
    api = dict(spec.get("api", {}))
    check_keys(api, API_KEYS, "api")
    hosts = dict(spec.get("hosts", {}))
    for h, hv in hosts.items():
        if h not in allnames:
            raise SpecError(f"`hosts.{h}` names no host of `masters` or `workers`")
        check_keys(hv, HOST_KEYS, f"hosts.{h}")
        if "kubelet_flags" in hv and hv["kubelet_flags"] not in FLAG_PLACES:
            raise SpecError(f"`hosts.{h}.kubelet_flags` must be one of {', '.join(FLAG_PLACES)}")
        if "dropin_dir" in hv and hv["dropin_dir"] not in DROPIN_DIRS:
            raise SpecError(f"`hosts.{h}.dropin_dir` must be one of {', '.join(DROPIN_DIRS)}")
        if "network_plugin" in hv and (hv["network_plugin"] not in ("cni", "kubenet") or minor >= 24):
            raise SpecError(f"`hosts.{h}.network_plugin` must be `cni` or `kubenet`, below Kubernetes 1.24")
        if "cgroup_driver" in hv and hv["cgroup_driver"] not in ("systemd", "cgroupfs"):
            raise SpecError(f"`hosts.{h}.cgroup_driver` must be `systemd` or `cgroupfs`")
        if "cgroup_driver_flag" in hv and hv["cgroup_driver_flag"] not in ("", "systemd", "cgroupfs"):
            raise SpecError(f"`hosts.{h}.cgroup_driver_flag` must be ``, `systemd` or `cgroupfs`")
        if layout == "kubespray" and ("kubelet_flags" in hv or "dropin_dir" in hv):
            raise SpecError(f"`hosts.{h}`: `kubelet_flags` and `dropin_dir` are kubeadm's; the kubespray "
                            "layout keeps the flags in /etc/kubernetes/kubelet.env")
    etcd = dict(spec.get("etcd", {}))
    check_keys(etcd, ETCD_KEYS, "etcd")
    # kubeadm's default is the static pod; Kubespray's (etcd_deployment_type) is host
    etcd_mode = etcd.get("mode", "host" if layout == "kubespray" else "stacked")
    if etcd_mode not in ETCD_MODES:
        raise SpecError(f"`etcd.mode` must be one of {', '.join(ETCD_MODES)}, got `{etcd_mode}`")
    check_units(spec.get("units", {}), "units")
    for h, hv in hosts.items():
        check_units(hv.get("units", {}), f"hosts.{h}.units")
    for k in ("hosts", "absent"):
        for h in images.get(k, {}):
            if h not in allnames:
                raise SpecError(f"`images.{k}.{h}` names no host")
    sizes = images.get("size_mb", 0)
    for ref, mb in (sizes.items() if isinstance(sizes, dict) else [("", sizes)]):
        where = "images.size_mb" + (f".{ref}" if ref else "")
        if not isinstance(mb, int) or isinstance(mb, bool) or not 0 <= mb <= 4096:
            raise SpecError(f"`{where}` must be a whole number of MiB from 0 to 4096, got {mb!r}")
    reg = spec.get("registry_node", masters[0])
    if reg not in allnames:
        raise SpecError(f"`registry_node` `{reg}` names no host")
    subnet = ipaddress.ip_network(network.get("subnet", default_network()["subnet"]))
    if subnet.num_addresses < len(allnames) + 12:
        raise SpecError(f"`network.subnet` {subnet} is too small for {len(allnames)} hosts")
    namespaces = set()
    for i, w in enumerate(spec.get("workloads", [])):
        check_workload(i, w, allnames)
        if w["kind"] == "Namespace":
            if w["metadata"]["name"] in namespaces:
                raise SpecError(f"`workloads[{i}].metadata.name`: namespace `{w['metadata']['name']}` "
                                "is named twice")
            namespaces.add(w["metadata"]["name"])
    registry = None
    if "registry" in spec:
        r = spec["registry"]
        check_keys(r, REGISTRY_KEYS, "registry")
        host = r.get("host", "")
        m = re.fullmatch(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?)(?::(\d{1,5}))?", host)
        if not m:
            raise SpecError(f"`registry.host` must be NAME or NAME:PORT (e.g. `registry:5000`), got `{host}`")
        for i, ref in enumerate(r.get("images", [])):
            if not isinstance(ref, str) or not ref.startswith(host + "/") or not K.image_has_tag(ref) or "@" in ref:
                raise SpecError(f"`registry.images[{i}]` must be `{host}/NAME:TAG`, got `{ref}`")
        tls = r.get("tls", False)
        registry = {"host": host, "name": m.group(1), "port": int(m.group(3) or (443 if tls else 80)),
                    "images": r.get("images", []), "tls": tls}
    for i, w in enumerate(spec.get("workloads", [])):
        for ref in workload_images([w]):
            for ph in DIGEST_PLACEHOLDERS:
                if ref.endswith(ph) and (registry is None or ref[:-len(ph)] not in registry["images"]):
                    raise SpecError(f"`workloads[{i}]`: `{ref}` pins an image by its registry digest, but "
                                    f"`{ref[:-len(ph)]}` is not in `registry.images`")
    d = default_network()
    net = {
        "bridge": network.get("bridge", d["bridge"]),
        "subnet": str(subnet),
        "netns_prefix": network.get("netns_prefix", d["netns_prefix"]),
        "veth_prefix": network.get("veth_prefix", d["veth_prefix"]),
    }
    if len(net["bridge"]) > 15 or len(net["veth_prefix"]) > 10:
        raise SpecError("`network.bridge` must be at most 15 characters and `network.veth_prefix` at most 10")
    return {
        "description": spec.get("description", ""),
        "masters": masters, "workers": workers, "registry_node": reg,
        "registry_node_in_inventory": spec.get("registry_node_in_inventory", True),
        "kubernetes": {"version": version, "minor": minor, "cgroup_driver": cg,
                       "kubelet_flags": flags, "dropin_dir": dropin, "layout": layout,
                       "cgroup_driver_flag": cg_flag, "network_plugin": plugin,
                       "cni_bin_dir": k8s.get("cni_bin_dir"), "cni_conf_dir": k8s.get("cni_conf_dir"),
                       "cri_dockerd_pause_image": k8s.get("cri_dockerd_pause_image"),
                       "extra_kubelet_flags": k8s.get("extra_kubelet_flags", ""),
                       "pod_ips_per_node": ips_per_node},
        "inventory": {"groups": inv_groups, "kube_node_masters": kube_node_masters},
        "docker": {"daemon_json": daemon_json, "storage_driver": docker.get("storage_driver", ""),
                   "iptables": docker.get("iptables", False)},
        "containerd": {"config_toml": containerd.get("config_toml", CONTAINERD_IO_CONFIG)},
        "images": images, "workloads": spec.get("workloads", []), "hosts": hosts,
        "etcd": {"mode": etcd_mode}, "units": spec.get("units", {}),
        "sysctls": {**DEFAULT_SYSCTLS, **{k: str(v) for k, v in spec.get("sysctls", {}).items()}},
        "network": net, "registry": registry,
        "api": {"port": api.get("port", 6443),
                "node_monitor_grace_seconds": api.get("node_monitor_grace_seconds", 40)},
    }


# ---- helpers -----------------------------------------------------------------------
def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def whiteout(path):
    """An overlayfs whiteout: the file is absent in the host's view."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def opaque_dir(path):
    """A directory that hides the same directory of the machine underneath."""
    os.makedirs(path, exist_ok=True)
    os.setxattr(path, "trusted.overlay.opaque", b"y")


def kubeadm_images(minor, version):
    repo, pause, etcd, coredns = KUBEADM_IMAGES[minor]
    coredns_img = f"{repo}/coredns/coredns:{coredns}" if minor >= 21 else f"{repo}/coredns:{coredns}"
    return {
        "pause": f"{repo}/pause:{pause}",
        "all": [f"{repo}/pause:{pause}", f"{repo}/kube-proxy:v{version}", coredns_img],
        "masters": [f"{repo}/kube-apiserver:v{version}", f"{repo}/kube-controller-manager:v{version}",
                    f"{repo}/kube-scheduler:v{version}", f"{repo}/etcd:{etcd}"],
        "etcd": f"{repo}/etcd:{etcd}",
        "repo": repo,
    }


def workload_images(workloads):
    out = []
    for w in workloads:
        spec = w.get("spec", {})
        pod = spec.get("template", {}).get("spec") if "template" in spec else (spec if w["kind"] == "Pod" else None)
        for c in (pod or {}).get("containers", []) + (pod or {}).get("initContainers", []):
            if c.get("image") and c["image"] not in out:
                out.append(c["image"])
    return out


def registry_certs(state, name):
    """A CA made for this lab and the registry's certificate for `name`, signed by it."""
    d = f"{state}/registry"
    os.makedirs(d, exist_ok=True)
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=rtmig lab registry CA",
        "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{d}/registry.key",
        "-out", f"{d}/registry.csr")
    write(f"{d}/san.cnf", f"subjectAltName=DNS:{name}\n")
    run("openssl", "x509", "-req", "-in", f"{d}/registry.csr", "-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key",
        "-CAcreateserial", "-days", "30", "-extfile", f"{d}/san.cnf", "-out", f"{d}/registry.crt")


def registry_pulls(s):
    """(host, image) pairs `up` pulls through the lab's registry after the push."""
    reg = s["registry"]
    if not reg:
        return []
    out = []
    for n in s["masters"] + s["workers"]:
        absent = set(s["images"].get("absent", {}).get(n, []))
        out += [(n, r) for r in reg["images"] if r not in absent]
    return out


def deferred(workload):
    """Whether a workload pins an image by the registry's digest: it is created after the push."""
    return any(r.endswith(DIGEST_PLACEHOLDERS) for r in workload_images([workload]))


def resolve_digests(obj, digests):
    """`obj` with each digest placeholder replaced by the pushed image's digest."""
    if isinstance(obj, dict):
        return {k: resolve_digests(v, digests) for k, v in obj.items()}
    if isinstance(obj, list):
        return [resolve_digests(v, digests) for v in obj]
    if isinstance(obj, str):
        for ph in DIGEST_PLACEHOLDERS:
            if obj.endswith(ph):
                ref = obj[:-len(ph)]
                name = ref.rsplit(":", 1)[0] if ph == "@registry-digest-only" else ref
                return f"{name}@{digests[ref]}"
    return obj


def host_images(s, name, role):
    im = s["images"]
    k = kubeadm_images(s["kubernetes"]["minor"], s["kubernetes"]["version"])
    refs = []
    if im.get("kubeadm", True):
        refs += k["all"] + (k["masters"] if role == "master" else [])
        if s["kubernetes"]["cri_dockerd_pause_image"]:
            # an air-gapped node has the sandbox image cri-dockerd was told to use, not kubeadm's
            refs = [s["kubernetes"]["cri_dockerd_pause_image"] if r == k["pause"] else r for r in refs]
    if im.get("workloads", True):
        refs += workload_images(s["workloads"])
    if role == "master" and s["etcd"]["mode"] == "docker":
        refs.append(KUBESPRAY_ETCD_IMAGE)
    refs += im.get("all", []) + im.get(role + "s", [])
    if name == s["registry_node"]:
        refs += im.get("registry", [])
    refs += im.get("hosts", {}).get(name, [])
    absent = set(im.get("absent", {}).get(name, []))
    reg = s["registry"]
    if reg:
        # Images of the lab's registry reach Docker as in the field: the registry node
        # loads them and pushes them; every node then pulls them (see registry_pulls).
        refs = [r for r in refs if K.image_registry(r) != reg["host"]]
        if name == s["registry_node"]:
            refs += reg["images"]
    seen, out = set(), []
    for r in refs:
        if r not in seen and r not in absent:
            seen.add(r)
            out.append(r)
    return out


# ---- kubelet files -----------------------------------------------------------------
def cni_flags(k8s):
    """--cni-bin-dir/--cni-conf-dir where the spec moves the CNI dirs (as TKEStack or an
    operator might); nothing for the defaults, which the kubelet and cri-dockerd assume."""
    out = ""
    if k8s.get("cni_bin_dir"):
        out += f" --cni-bin-dir={k8s['cni_bin_dir']}"
    if k8s.get("cni_conf_dir"):
        out += f" --cni-conf-dir={k8s['cni_conf_dir']}"
    return out


def runtime_flags(minor, pause, k8s):
    """The kubelet runtime flags a node on Docker had, by version."""
    if minor < 24:
        plugin = k8s.get("network_plugin", "cni")
        dirs = cni_flags(k8s) if plugin == "cni" else ""
        return f"--network-plugin={plugin}{dirs} --pod-infra-container-image={pause}"
    if minor < 27:
        return ("--container-runtime=remote --container-runtime-endpoint=unix:///var/run/cri-dockerd.sock "
                f"--pod-infra-container-image={pause}")
    return f"--container-runtime-endpoint=unix:///var/run/cri-dockerd.sock --pod-infra-container-image={pause}"


# Kubespray's kubelet unit (roles/kubernetes/node/templates/kubelet.service.j2 with
# container_manager docker and bin_dir /usr/local/bin), written to
# /etc/systemd/system/kubelet.service as Kubespray does.
KUBESPRAY_KUBELET_SERVICE = """[Unit]
Description=Kubernetes Kubelet Server
Documentation=https://github.com/GoogleCloudPlatform/kubernetes
After=docker.service
Wants=docker.socket

[Service]
EnvironmentFile=-/etc/kubernetes/kubelet.env
ExecStart=/usr/local/bin/kubelet \\
		$KUBE_LOGTOSTDERR \\
		$KUBE_LOG_LEVEL \\
		$KUBELET_API_SERVER \\
		$KUBELET_ADDRESS \\
		$KUBELET_PORT \\
		$KUBELET_HOSTNAME \\
		$KUBELET_ARGS \\
		$DOCKER_SOCKET \\
		$KUBELET_NETWORK_PLUGIN \\
		$KUBELET_VOLUME_PLUGIN \\
		$KUBELET_CLOUDPROVIDER
Restart=always
RestartSec=10s

[Install]
WantedBy=multi-user.target
"""


def kubespray_kubelet_env(minor, pause, ip, name, cg_flag):
    """/etc/kubernetes/kubelet.env as Kubespray's kubelet.env.v1beta1.j2 renders it for
    container_manager docker (kube_log_level 2, kube_network_plugin calico): the runtime
    flags inside KUBELET_ARGS, one per line with backslash continuations (systemd joins
    them), dockershim's network flags in KUBELET_NETWORK_PLUGIN below 1.24."""
    if minor < 24:
        runtime = [f"--pod-infra-container-image={pause}"]
    elif minor < 27:
        runtime = ["--container-runtime=remote", "--container-runtime-endpoint=unix:///var/run/cri-dockerd.sock"]
    else:
        runtime = ["--container-runtime-endpoint=unix:///var/run/cri-dockerd.sock"]
    if cg_flag:
        runtime.append(f"--cgroup-driver={cg_flag}")
    base = ["--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
            "--config=/etc/kubernetes/kubelet-config.yaml",
            "--kubeconfig=/etc/kubernetes/kubelet.conf"] + runtime + ["--runtime-cgroups=/systemd/system.slice"]
    lines = []
    if minor < 26:
        lines.append('KUBE_LOGTOSTDERR="--logtostderr=true"')
    lines += ['KUBE_LOG_LEVEL="--v=2"', f'KUBELET_ADDRESS="--node-ip={ip}"',
              f'KUBELET_HOSTNAME="--hostname-override={name}"', ""]
    lines.append('KUBELET_ARGS="' + "".join(f"{f} \\\n" for f in base) + '  "')
    if minor < 24:
        lines.append('KUBELET_NETWORK_PLUGIN="--network-plugin=cni --cni-conf-dir=/etc/cni/net.d '
                     '--cni-bin-dir=/opt/cni/bin"')
    lines += ['KUBELET_CLOUDPROVIDER=""', "",
              "PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    return "\n".join(lines) + "\n"


def kubespray_kubelet_config(cgroup_driver):
    """/etc/kubernetes/kubelet-config.yaml as Kubespray's kubelet-config.v1beta1.yaml.j2
    renders it with its defaults."""
    return f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
nodeStatusUpdateFrequency: "10s"
failSwapOn: True
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: True
  x509:
    clientCAFile: /etc/kubernetes/ssl/ca.crt
authorization:
  mode: Webhook
staticPodPath: /etc/kubernetes/manifests
cgroupDriver: {cgroup_driver}
containerLogMaxFiles: 5
containerLogMaxSize: 10Mi
maxPods: 110
address: 0.0.0.0
readOnlyPort: 0
healthzPort: 10248
healthzBindAddress: 127.0.0.1
kubeletCgroups: /systemd/system.slice
clusterDomain: cluster.local
protectKernelDefaults: true
rotateCertificates: true
clusterDNS:
- 169.254.25.10
kubeReserved:
  cpu: 200m
  memory: 512Mi
resolvConf: "/etc/resolv.conf"
shutdownGracePeriod: 60s
shutdownGracePeriodCriticalPods: 20s
"""


KUBELET_SERVICE = """[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/home/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""


def dropin_text(place):
    env_file = "/etc/sysconfig/kubelet" if place == "sysconfig" else "/etc/default/kubelet"
    runtime = ""
    exec_extra = ""
    if place == "dropin":
        runtime = 'Environment="KUBELET_RUNTIME_ARGS={RUNTIME}"\n'
        exec_extra = " $KUBELET_RUNTIME_ARGS"
    return (
        "# Note: This dropin only works with kubeadm and kubelet v1.11+\n"
        "[Service]\n"
        'Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf '
        '--kubeconfig=/etc/kubernetes/kubelet.conf"\n'
        'Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"\n'
        + runtime +
        "# This is a file that \"kubeadm init\" and \"kubeadm join\" generates at runtime, populating the "
        "KUBELET_KUBEADM_ARGS variable dynamically\n"
        "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n"
        "# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, "
        "the user should use\n"
        "# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS "
        "should be sourced from this file.\n"
        f"EnvironmentFile=-{env_file}\n"
        "ExecStart=\n"
        "ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS "
        f"$KUBELET_EXTRA_ARGS{exec_extra}\n"
    )


def kubelet_config_yaml(cgroup_driver):
    return f"""apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
cgroupDriver: {cgroup_driver}
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
cpuManagerReconcilePeriod: 0s
evictionPressureTransitionPeriod: 0s
fileCheckFrequency: 0s
healthzBindAddress: 127.0.0.1
healthzPort: 10248
httpCheckFrequency: 0s
imageMinimumGCAge: 0s
kind: KubeletConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
  verbosity: 0
memorySwap: {{}}
nodeStatusReportFrequency: 0s
nodeStatusUpdateFrequency: 0s
rotateCertificates: true
runtimeRequestTimeout: 0s
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
staticPodPath: /etc/kubernetes/manifests
streamingConnectionIdleTimeout: 0s
syncFrequency: 0s
volumeStatsAggPeriod: 0s
"""


def kubeconfig(server, user="kubernetes-admin"):
    return f"""apiVersion: v1
kind: Config
clusters:
- cluster:
    server: {server}
  name: rtmig-lab
contexts:
- context:
    cluster: rtmig-lab
    user: {user}
  name: {user}@rtmig-lab
current-context: {user}@rtmig-lab
preferences: {{}}
users:
- name: {user}
  user: {{}}
"""


SSHD_CONFIG = """# rtmig lab host sshd: key authentication for root, nothing else.
Port 22
ListenAddress 0.0.0.0
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
PidFile /run/sshd.pid
PrintMotd no
UseDNS no
AcceptEnv LANG LC_*
# The controller opens one connection per host with several channels, and may reach
# every host at once: keep OpenSSH's limits out of the way of the migration.
MaxSessions 32
MaxStartups 100:30:200
Subsystem sftp /usr/lib/openssh/sftp-server
"""

# The service units as Debian's packages ship them (docker.io, containerd, openssh-server),
# written into each host so the lab does not depend on what the machine has installed.
DOCKER_SERVICE = """[Unit]
Description=Docker Application Container Engine
Documentation=https://docs.docker.com
After=network-online.target docker.socket firewalld.service containerd.service
Wants=network-online.target containerd.service
Requires=docker.socket

[Service]
Type=notify
EnvironmentFile=-/etc/default/docker
ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS
ExecReload=/bin/kill -s HUP $MAINPID
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Delegate=yes
KillMode=process
Restart=on-failure
StartLimitBurst=3
StartLimitInterval=60s

[Install]
WantedBy=multi-user.target
"""
DOCKER_SOCKET = """[Unit]
Description=Docker Socket for the API

[Socket]
ListenStream=/run/docker.sock
SocketMode=0660
SocketUser=root
SocketGroup=docker

[Install]
WantedBy=sockets.target
"""
CONTAINERD_SERVICE = """[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target local-fs.target

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
"""
SSH_SERVICE = """[Unit]
Description=OpenBSD Secure Shell server
Documentation=man:sshd(8) man:sshd_config(5)
After=network.target auditd.service
ConditionPathExists=!/etc/ssh/sshd_not_to_be_run

[Service]
EnvironmentFile=-/etc/default/ssh
ExecStartPre=/usr/sbin/sshd -t
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
ExecReload=/usr/sbin/sshd -t
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RestartPreventExitStatus=255
Type=notify
RuntimeDirectory=sshd
RuntimeDirectoryMode=0755

[Install]
WantedBy=multi-user.target
Alias=sshd.service
"""
SIM_FILES = ["units.py", "init.py", "systemctl.py", "journalctl.py", "kubelet.py", "k8s.py", "cri_dockerd.py",
             "crictl.py", "containers.py", "kubeadm_upgrade.py"]
REGISTRY_CONFIG = """version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: :{port}
  headers:
    X-Content-Type-Options: [nosniff]
"""
# cri-dockerd's units as Mirantis ships them, for Kubernetes 1.24+ on Docker.
CRI_DOCKER_SERVICE = """[Unit]
Description=CRI Interface for Docker Application Container Engine
Documentation=https://docs.mirantis.com
After=network-online.target firewalld.service docker.service
Wants=network-online.target
Requires=cri-docker.socket

[Service]
Type=notify
ExecStart=/usr/bin/cri-dockerd --container-runtime-endpoint fd:// --pod-infra-container-image={PAUSE}
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutSec=0
RestartSec=2
Restart=always
StartLimitBurst=3
StartLimitInterval=60s
LimitNOFILE=infinity
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
Delegate=yes
KillMode=process

[Install]
WantedBy=multi-user.target
"""
CRI_DOCKER_SOCKET = """[Unit]
Description=CRI Docker Socket for the API
PartOf=cri-docker.service

[Socket]
ListenStream=%t/cri-dockerd.sock
SocketMode=0660
SocketUser=root
SocketGroup=docker

[Install]
WantedBy=sockets.target
"""


def render_host(s, state, name, role, ip, index, pub_key, api_server):
    h = f"{state}/hosts/{name}"
    hv = s["hosts"].get(name, {})
    k = s["kubernetes"]
    minor = k["minor"]
    cg = hv.get("cgroup_driver", k["cgroup_driver"])
    place = hv.get("kubelet_flags", k["kubelet_flags"])
    dropin_dir = hv.get("dropin_dir", k["dropin_dir"])
    missing = hv.get("containerd_missing", False)
    kubespray = k["layout"] == "kubespray"
    cg_flag = hv.get("cgroup_driver_flag", k["cgroup_driver_flag"])
    pause = kubeadm_images(minor, k["version"])["pause"]
    for d in ("etc", "usr", "var", "opt", "w/etc", "w/usr", "w/var", "w/opt", "run", "home"):
        os.makedirs(f"{h}/{d}", exist_ok=True)
    os.makedirs(f"{h}/tmp", exist_ok=True)
    os.chmod(f"{h}/tmp", 0o1777)
    os.chmod(f"{h}/home", 0o700)
    E, Us, V = f"{h}/etc", f"{h}/usr", f"{h}/var"

    # identity, name resolution, sshd
    write(f"{E}/hostname", name + "\n")
    hosts_lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{name}", "::1\tlocalhost ip6-localhost ip6-loopback"]
    for other, oip in s["_ips"].items():
        hosts_lines.append(f"{oip}\t{other}")
    reg = s["registry"]
    if reg and reg["name"] not in s["_ips"]:
        # how nodes in the field reach a registry named without a domain
        hosts_lines.append(f"{s['_ips'][s['registry_node']]}\t{reg['name']}")
    write(f"{E}/hosts", "\n".join(hosts_lines) + "\n")
    write(f"{E}/ssh/sshd_config", SSHD_CONFIG)
    key = f"{E}/ssh/ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}", "-f", key],
                   check=True)
    os.makedirs(f"{h}/home/.ssh", mode=0o700, exist_ok=True)
    write(f"{h}/home/.ssh/authorized_keys", pub_key, 0o600)

    # units: Debian's, written into /usr/lib/systemd/system; enabled as after installation
    units_dir = f"{Us}/lib/systemd/system"
    write(f"{units_dir}/ssh.service", SSH_SERVICE)
    write(f"{units_dir}/docker.service", DOCKER_SERVICE)
    write(f"{units_dir}/docker.socket", DOCKER_SOCKET)
    if kubespray:
        # Kubespray downloads the kubelet (no package, no packaged unit) and writes its own unit.
        write(f"{E}/systemd/system/kubelet.service", KUBESPRAY_KUBELET_SERVICE)
    else:
        write(f"{units_dir}/kubelet.service", KUBELET_SERVICE)
    wants = f"{E}/systemd/system/multi-user.target.wants"
    sockets = f"{E}/systemd/system/sockets.target.wants"
    opaque_dir(wants)
    opaque_dir(sockets)
    enabled = ["ssh.service"]
    if hv.get("docker_enabled", True):
        enabled.append("docker.service")
        os.symlink("/lib/systemd/system/docker.socket", f"{sockets}/docker.socket")
    if minor >= 24:
        cri_args = f"--pod-infra-container-image={s['kubernetes']['cri_dockerd_pause_image'] or pause}"
        if cni_flags(s["kubernetes"]):
            # Kubespray's cri-dockerd unit names the CNI dirs the same way.
            cri_args += " --network-plugin=cni" + cni_flags(s["kubernetes"])
        write(f"{units_dir}/cri-docker.service",
              CRI_DOCKER_SERVICE.replace("--pod-infra-container-image={PAUSE}", cri_args))
        write(f"{units_dir}/cri-docker.socket", CRI_DOCKER_SOCKET)
        if hv.get("docker_enabled", True):
            enabled.append("cri-docker.service")
            os.symlink("/lib/systemd/system/cri-docker.socket", f"{sockets}/cri-docker.socket")
    if hv.get("kubelet_enabled", True):
        enabled.append("kubelet.service")
    if missing:
        # Docker runs its own private containerd (as the static Docker bundles did):
        # no containerd on PATH, no containerd.service, no ctr.
        for b in ("containerd", "ctr", "containerd-shim", "containerd-shim-runc-v1", "containerd-shim-runc-v2"):
            whiteout(f"{Us}/bin/{b}")
        whiteout(f"{units_dir}/containerd.service")
        os.makedirs(f"{Us}/libexec/docker/bin", exist_ok=True)
        for b in ("containerd", "containerd-shim-runc-v2"):
            dst = f"{Us}/libexec/docker/bin/{b}"
            try:
                os.link(f"/usr/bin/{b}", dst)
            except OSError:
                shutil.copy2(f"/usr/bin/{b}", dst)
        # and dpkg does not know a containerd package either (apt/dpkg -i can install one)
        try:
            with open("/var/lib/dpkg/status") as f:
                stanzas = f.read().split("\n\n")
            kept = [st for st in stanzas if not st.startswith("Package: containerd\n")]
            write(f"{V}/lib/dpkg/status", "\n\n".join(kept))
            for f in os.listdir("/var/lib/dpkg/info"):
                if f.startswith("containerd.") or f.startswith("containerd:"):
                    whiteout(f"{V}/lib/dpkg/info/{f}")
        except OSError:
            pass
        write(f"{E}/systemd/system/docker.service.d/private-containerd.conf",
              "# Docker on this node brings its own containerd (not on PATH, no unit).\n"
              "[Unit]\nWants=network-online.target\n[Service]\n"
              "Environment=PATH=/usr/libexec/docker/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
              "ExecStart=\nExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS\n")
    else:
        write(f"{units_dir}/containerd.service", CONTAINERD_SERVICE)
        enabled.insert(1, "containerd.service")
    for u in enabled:
        src = "/etc/systemd/system" if kubespray and u == "kubelet.service" else "/lib/systemd/system"
        os.symlink(f"{src}/{u}", f"{wants}/{u}")
    # the docker CLI of this machine's /usr/local/bin is not the node's: hide it
    whiteout(f"{Us}/local/bin/docker")

    # simulators and stand-ins, installed where the real binaries live
    lib = f"{Us}/lib/rtmig-lab"
    os.makedirs(lib, exist_ok=True)
    for f in SIM_FILES:
        if os.path.exists(f"{HERE}/{f}"):
            shutil.copy2(f"{HERE}/{f}", f"{lib}/{f}")
            os.chmod(f"{lib}/{f}", 0o755)
    write(f"{lib}/kubelet-version", k["version"] + "\n")
    if reg:
        write(f"{lib}/registry-host", reg["host"] + "\n")
        if reg["tls"]:
            # Docker trusts the lab's CA for this registry only, as operators set it up
            os.makedirs(f"{E}/docker/certs.d/{reg['host']}", exist_ok=True)
            shutil.copy2(f"{state}/registry/ca.crt", f"{E}/docker/certs.d/{reg['host']}/ca.crt")
        if name == s["registry_node"]:
            # Debian's docker-registry (distribution 2.8), run by the registry pod (its container's command, `lab.rtmig.io/host-process`)
            config = REGISTRY_CONFIG.format(port=reg["port"])
            if reg["tls"]:
                os.makedirs(f"{E}/docker/registry/tls", exist_ok=True)
                for f in ("registry.crt", "registry.key"):
                    shutil.copy2(f"{state}/registry/{f}", f"{E}/docker/registry/tls/{f}")
                config += ("  tls:\n    certificate: /etc/docker/registry/tls/registry.crt\n"
                           "    key: /etc/docker/registry/tls/registry.key\n")
            write(f"{E}/docker/registry/config.yml", config)
    os.makedirs(f"{Us}/bin", exist_ok=True)
    links = [("systemctl", "systemctl.py"), ("journalctl", "journalctl.py"), ("crictl", "crictl.py")]
    if kubespray:
        # Kubespray's bin_dir: the kubelet and kubectl live in /usr/local/bin.
        os.makedirs(f"{Us}/local/bin", exist_ok=True)
        os.symlink("/usr/lib/rtmig-lab/kubelet.py", f"{Us}/local/bin/kubelet")
        kubectl = shutil.which("kubectl")
        if kubectl:
            os.symlink(os.path.realpath(kubectl), f"{Us}/local/bin/kubectl")
            if os.path.abspath(kubectl) != "/usr/local/bin/kubectl":
                whiteout(f"{Us}/bin/kubectl")
    else:
        links.append(("kubelet", "kubelet.py"))
    os.symlink("/usr/lib/rtmig-lab/containers.py", f"{lib}/docker")
    if minor >= 24:
        links.append(("cri-dockerd", "cri_dockerd.py"))
    for link, target in links:
        if os.path.lexists(f"{Us}/bin/{link}"):
            os.unlink(f"{Us}/bin/{link}")
        os.symlink(f"/usr/lib/rtmig-lab/{target}", f"{Us}/bin/{link}")

    # docker and containerd configuration
    daemon_json = hv.get("daemon_json", s["docker"]["daemon_json"])
    write(f"{E}/docker/daemon.json", json.dumps(daemon_json, indent=2) + "\n")
    # Without docker.iptables, no iptables rules and no docker0 bridge inside the hosts'
    # network namespaces; with it, Docker's own (its chains, docker0, the MASQUERADE rule),
    # as every Docker host in the field has them.
    opts = "" if s["docker"]["iptables"] else "--iptables=false --ip-masq=false --bridge=none"
    if s["docker"]["storage_driver"]:
        opts += f" --storage-driver={s['docker']['storage_driver']}"
    write(f"{E}/default/docker",
          "# Docker Upstart and SysVinit configuration file\n\n"
          f'DOCKER_OPTS="{opts.strip()}"\n')
    if not missing:
        write(f"{E}/containerd/config.toml", hv.get("containerd_config", s["containerd"]["config_toml"]))

    if kubespray:
        # Kubespray's files: no kubeadm drop-in, no /var/lib/kubelet/config.yaml.
        write(f"{E}/kubernetes/kubelet.env", kubespray_kubelet_env(minor, pause, ip, name, cg_flag), 0o640)
        write(f"{E}/kubernetes/kubelet-config.yaml", kubespray_kubelet_config(cg), 0o640)
        os.makedirs(f"{V}/lib/kubelet", exist_ok=True)
    else:
        # kubelet: kubeadm's files, flags where the spec says (kubeadm 1.12-1.20 also
        # wrote --cgroup-driver among them)
        rflags = runtime_flags(minor, pause, {**s["kubernetes"], **{k: hv[k] for k in ("network_plugin",) if k in hv}})
        rflags += f" --cgroup-driver={cg_flag}" if cg_flag else ""
        extra = hv.get("extra_kubelet_flags", k["extra_kubelet_flags"])
        if extra:
            # more flags beside the runtime ones, verbatim (dockershim-era CNI flags, say)
            rflags = f"{rflags} {extra}"
        write(f"{V}/lib/kubelet/config.yaml", kubelet_config_yaml(cg))
        dropin = dropin_text(place).replace("{RUNTIME}", rflags)
        ddir = f"{E}/systemd/system" if dropin_dir == "/etc/systemd/system" else f"{Us}/lib/systemd/system"
        write(f"{ddir}/kubelet.service.d/10-kubeadm.conf", dropin)
        if place == "kubeadm-flags.env":
            write(f"{V}/lib/kubelet/kubeadm-flags.env", f'KUBELET_KUBEADM_ARGS="{rflags}"\n')
            write(f"{E}/default/kubelet", "KUBELET_EXTRA_ARGS=\n")
        elif place == "dropin":
            write(f"{E}/default/kubelet", "KUBELET_EXTRA_ARGS=\n")
        else:
            write(f"{E}/sysconfig/kubelet", f'KUBELET_EXTRA_ARGS="{rflags}"\n')
    write(f"{E}/kubernetes/kubelet.conf", kubeconfig(api_server, f"system:node:{name}"), 0o600)
    write(f"{E}/kubernetes/bootstrap-kubelet.conf", kubeconfig(api_server, "kubelet-bootstrap"), 0o600)
    if role == "master":
        write(f"{E}/kubernetes/admin.conf", kubeconfig(api_server), 0o600)
        write(f"{h}/home/.kube/config", kubeconfig(api_server), 0o600)
        for pod in static_pods(s, name, ip):
            write(f"{E}/kubernetes/manifests/{pod['metadata']['name'].rsplit('-' + name, 1)[0]}.yaml",
                  json.dumps(pod, indent=2) + "\n", 0o600)
    # etcd in docker or on the host: Kubespray's etcd.service and /etc/etcd.env
    mode = s["etcd"]["mode"]
    if role == "master" and mode in ("docker", "host"):
        mname = dict(zip(s["masters"], (n for n, _ in etcd_members(s))))[name]
        write(f"{E}/etcd.env", etcd_env(s, mname, ip), 0o640)
        unit = ETCD_DOCKER_SERVICE.replace("{NAME}", mname).replace("{IMAGE}", KUBESPRAY_ETCD_IMAGE) \
            if mode == "docker" else ETCD_HOST_SERVICE
        write(f"{E}/systemd/system/etcd.service", unit)
        os.symlink("/etc/systemd/system/etcd.service", f"{wants}/etcd.service")
        # Kubespray's etcd-host.service at hand, as its `etcd_deployment_type: host` run
        # would install it: what moving etcd to the host installs (tests do that)
        write(f"{lib}/etcd-host.service", ETCD_HOST_SERVICE)
    # more units (a `docker run` log shipper, say), enabled
    for uname, text in {**s["units"], **hv.get("units", {})}.items():
        write(f"{E}/systemd/system/{uname}", text)
        target = "sockets.target.wants" if uname.endswith(".socket") else "multi-user.target.wants"
        if not os.path.lexists(f"{E}/systemd/system/{target}/{uname}"):
            os.symlink(f"/etc/systemd/system/{uname}", f"{E}/systemd/system/{target}/{uname}")
    # the pod network: a CNI config and its plugins (stubs: no container runs here), where
    # the spec puts them; the kubelet (dockershim), cri-dockerd or containerd must look there
    conf_dir = s["kubernetes"]["cni_conf_dir"] or "/etc/cni/net.d"
    bin_dir = s["kubernetes"]["cni_bin_dir"] or "/opt/cni/bin"
    # ({h}/etc, {h}/usr, {h}/opt are the upper dirs of the host's /etc, /usr, /opt)
    # with kubernetes.pod_ips_per_node, a host-local range of that many IPs per node, which
    # the kubelet simulator hands out as host-local does (files under /var/lib/cni/networks)
    ipam = {"type": "host-local", "subnet": "10.244.0.0/16"}
    if s["kubernetes"]["pod_ips_per_node"]:
        ipam.update(rangeStart=f"10.244.{index}.2", rangeEnd=f"10.244.{index}.{1 + s['kubernetes']['pod_ips_per_node']}")
    write(f"{h}{conf_dir}/10-lab.conflist", json.dumps(
        {"cniVersion": "0.3.1", "name": "lab", "plugins": [
            {"type": "bridge", "bridge": "cni0", "ipam": ipam},
            {"type": "portmap", "capabilities": {"portMappings": True}}]}) + "\n")
    for plugin in CNI_PLUGINS:
        write(f"{h}{bin_dir}/{plugin}",
              "#!/bin/sh\n# rtmig lab: a CNI plugin stand-in (no container runs in the lab)\n"
              'echo \'{"cniVersion": "0.3.1"}\'\n', 0o755)

    mounts = [
        {"type": "overlay", "target": "/etc", "upper": E, "work": f"{h}/w/etc"},
        {"type": "overlay", "target": "/usr", "upper": Us, "work": f"{h}/w/usr"},
        {"type": "overlay", "target": "/var", "upper": V, "work": f"{h}/w/var"},
        {"type": "overlay", "target": "/opt", "upper": f"{h}/opt", "work": f"{h}/w/opt"},
        # Image stores live in memory: they are small, and the machine's disk is mounted with
        # `discard`, which makes deleting them at `down` take seconds.
        {"type": "tmpfs", "target": "/var/lib/docker", "size": "50%"},
        {"type": "tmpfs", "target": "/var/lib/containerd",
         "size": f"{hv['disk_free_mb']}m" if "disk_free_mb" in hv else "50%"},
    ]
    mounts += [
        {"type": "bind", "source": f"{h}/run", "target": "/run"},
        {"type": "bind", "source": f"{h}/tmp", "target": "/tmp"},
        {"type": "bind", "source": f"{h}/home", "target": "/root"},
    ]
    sysctls = {**s["sysctls"], **{k: str(v) for k, v in hv.get("sysctls", {}).items()}}
    with open(f"{h}/host.json", "w") as f:
        json.dump({"name": name, "role": role, "ip": ip, "index": index, "mounts": mounts,
                   "sysctls": sysctls}, f, indent=2)
    with open(f"{key}.pub") as f:
        return f.read().split()[:2]


# Raft timing for the lab's members: Kubespray's defaults (etcd_heartbeat_interval 250,
# etcd_election_timeout 5000) for its units; half that election timeout for kubeadm's
# static pod (as extraArgs), so a lost leader is replaced within seconds even on a busy machine.
ETCD_HEARTBEAT_MS = 250


def etcd_members(s):
    """[(member name, ip)]: kubeadm names members after their node, Kubespray etcd1, etcd2..."""
    stacked = s["etcd"]["mode"] == "stacked"
    return [(m if stacked else f"etcd{i + 1}", s["_ips"][m]) for i, m in enumerate(s["masters"])]


def etcd_command(s, node, ip):
    """kubeadm's etcd.yaml command (plain HTTP in the lab: no certificates)."""
    cluster = ",".join(f"{n}=http://{a}:2380" for n, a in etcd_members(s))
    return ["etcd", f"--advertise-client-urls=http://{ip}:2379", "--data-dir=/var/lib/etcd",
            f"--initial-advertise-peer-urls=http://{ip}:2380", f"--initial-cluster={cluster}",
            "--initial-cluster-state=new", "--initial-cluster-token=rtmig-lab",
            f"--listen-client-urls=http://127.0.0.1:2379,http://{ip}:2379",
            "--listen-metrics-urls=http://127.0.0.1:2381", f"--listen-peer-urls=http://{ip}:2380",
            f"--name={node}", "--snapshot-count=10000", f"--heartbeat-interval={ETCD_HEARTBEAT_MS}",
            "--election-timeout=2500", "--logger=zap"]


def etcd_env(s, name, ip):
    """Kubespray's /etc/etcd.env (roles/etcd/templates/etcd.env.j2), plain HTTP."""
    cluster = ",".join(f"{n}=http://{a}:2380" for n, a in etcd_members(s))
    return "\n".join([
        "# Environment file for etcd (Kubespray's etcd.env; the lab runs plain HTTP)",
        "ETCD_DATA_DIR=/var/lib/etcd",
        f"ETCD_ADVERTISE_CLIENT_URLS=http://{ip}:2379",
        f"ETCD_INITIAL_ADVERTISE_PEER_URLS=http://{ip}:2380",
        "ETCD_INITIAL_CLUSTER_STATE=new",
        "ETCD_METRICS=basic",
        f"ETCD_LISTEN_CLIENT_URLS=http://{ip}:2379,http://127.0.0.1:2379",
        f"ETCD_ELECTION_TIMEOUT=5000",
        f"ETCD_HEARTBEAT_INTERVAL={ETCD_HEARTBEAT_MS}",
        "ETCD_INITIAL_CLUSTER_TOKEN=k8s_etcd",
        f"ETCD_LISTEN_PEER_URLS=http://{ip}:2380",
        f"ETCD_NAME={name}",
        "ETCD_PROXY=off",
        f"ETCD_INITIAL_CLUSTER={cluster}",
        "ETCD_AUTO_COMPACTION_RETENTION=8",
        "ETCD_SNAPSHOT_COUNT=10000",
        "ETCD_LOGGER=zap",
        "",
        "# CLI settings",
        "ETCDCTL_ENDPOINTS=http://127.0.0.1:2379",
        "",
    ])


# Kubespray's roles/etcd/templates/etcd-docker.service.j2, with the lab's `docker run`
# stand-in (containers.py) in place of {{ docker_bin_dir }}/docker: runc cannot run here.
ETCD_DOCKER_SERVICE = """[Unit]
Description=etcd docker wrapper
Wants=docker.socket
After=docker.service

[Service]
User=root
PermissionsStartOnly=true
ExecStart=/usr/lib/rtmig-lab/docker run --restart=on-failure:5 \\
--env-file=/etc/etcd.env \\
--net=host \\
-v /etc/ssl/certs:/etc/ssl/certs:ro \\
-v /etc/ssl/etcd/ssl:/etc/ssl/etcd/ssl:ro \\
-v /var/lib/etcd:/var/lib/etcd:rw \\
--name={NAME} \\
{IMAGE} \\
/usr/local/bin/etcd
ExecStartPre=-/usr/lib/rtmig-lab/docker rm -f {NAME}
ExecReload=/usr/lib/rtmig-lab/docker restart {NAME}
ExecStop=/usr/lib/rtmig-lab/docker stop {NAME}
Restart=always
RestartSec=15s

[Install]
WantedBy=multi-user.target
"""
# Kubespray's roles/etcd/templates/etcd-host.service.j2 (bin_dir: Debian's /usr/bin; no
# etcd user in the lab).
ETCD_HOST_SERVICE = """[Unit]
Description=etcd
After=network.target

[Service]
Type=notify
EnvironmentFile=/etc/etcd.env
ExecStart=/usr/bin/etcd
NotifyAccess=all
Restart=always
RestartSec=10s
LimitNOFILE=40000

[Install]
WantedBy=multi-user.target
"""


def static_pods(s, node, ip):
    k = kubeadm_images(s["kubernetes"]["minor"], s["kubernetes"]["version"])
    v = s["kubernetes"]["version"]
    comps = [("kube-apiserver", f"{k['repo']}/kube-apiserver:v{v}"),
             ("kube-controller-manager", f"{k['repo']}/kube-controller-manager:v{v}"),
             ("kube-scheduler", f"{k['repo']}/kube-scheduler:v{v}")]
    if s["etcd"]["mode"] == "stacked":
        comps.insert(0, ("etcd", k["etcd"]))
    pods = []
    for comp, image in comps:
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{comp}-{node}", "namespace": "kube-system",
                         "labels": {"component": comp, "tier": "control-plane"},
                         "annotations": {"kubernetes.io/config.source": "file",
                                         "kubernetes.io/config.mirror": "lab"}},
            "spec": {"nodeName": node, "hostNetwork": True, "priorityClassName": "system-node-critical",
                     "containers": [{"name": comp, "image": image}]},
        }
        if comp == "etcd":
            # a real etcd member, run by the kubelet simulator while its runtime runs the pod
            pod["metadata"]["annotations"]["lab.rtmig.io/host-process"] = "etcd"
            pod["metadata"]["annotations"]["kubeadm.kubernetes.io/etcd.advertise-client-urls"] = \
                f"http://{ip}:2379"
            pod["spec"]["containers"][0]["command"] = etcd_command(s, node, ip)
            pod["spec"]["volumes"] = [{"name": "etcd-data",
                                       "hostPath": {"path": "/var/lib/etcd", "type": "DirectoryOrCreate"}}]
            pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "etcd-data", "mountPath": "/var/lib/etcd"}]
        pods.append(pod)
    return pods


def api_state(s, ips):
    """The objects the API server starts with: nodes, namespaces, workloads, static pods."""
    k = s["kubernetes"]
    minor = k["minor"]
    master_label = "node-role.kubernetes.io/master"
    nodes, objects = [], []
    for role, names in (("master", s["masters"]), ("worker", s["workers"])):
        for n in names:
            labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                      "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": n, "kubernetes.io/os": "linux"}
            taints = []
            if role == "master":
                labels["node-role.kubernetes.io/control-plane"] = ""
                if minor < 25:
                    labels["node-role.kubernetes.io/master"] = ""
                    labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
                taints.append({"key": master_label if minor < 25 else "node-role.kubernetes.io/control-plane",
                               "effect": "NoSchedule"})
            sock = "/var/run/dockershim.sock" if minor < 24 else "unix:///var/run/cri-dockerd.sock"
            nodes.append({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": n, "labels": labels,
                             "annotations": {"kubeadm.alpha.kubernetes.io/cri-socket": sock,
                                             "node.alpha.kubernetes.io/ttl": "0",
                                             "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
                "spec": {"podCIDR": f"10.244.{len(nodes)}.0/24", "taints": taints},
                "status": {"addresses": [{"type": "InternalIP", "address": ips[n]},
                                         {"type": "Hostname", "address": n}]},
            })
    namespaces = {"default", "kube-system", "kube-public", "kube-node-lease"}
    for w in s["workloads"]:
        if w["kind"] == "Namespace":
            continue
        namespaces.add(w["metadata"].get("namespace", "default"))
        if not deferred(w):
            objects.append(w)
    # A Namespace the spec names (with its labels, say `tke`) is created as written, in
    # place of the bare one the lab would create for the workloads in it.
    named = [w for w in s["workloads"] if w["kind"] == "Namespace"]
    namespaces -= {w["metadata"]["name"] for w in named}
    objects = named + objects
    for m in s["masters"]:
        objects += static_pods(s, m, ips[m])
    return {"nodes": nodes, "namespaces": sorted(namespaces), "objects": objects}


def inventory(s, state, ips):
    k = s["kubernetes"]
    st = os.path.abspath(state)
    lines = [
        f"# rtmig lab inventory, written by `lab/lab.sh up` at {time.strftime('%Y-%m-%d %H:%M:%S %z')}.",
        "# Hosts are network namespaces on this machine; reach them with the key and known_hosts below.",
        "all:",
        "  vars:",
        "    ansible_user: root",
        f"    ansible_ssh_private_key_file: {st}/ssh/id_ed25519",
        f"    ansible_ssh_common_args: \"-o UserKnownHostsFile={st}/ssh/known_hosts -o StrictHostKeyChecking=yes\"",
        f"    kubeconfig: {st}/kubeconfig",
        f"    kubernetes_version: \"{k['version']}\"",
    ]
    if s["registry_node_in_inventory"]:
        lines.append(f"    registry_node: {s['registry_node']}")
    lines += [
        f"    lab_state_dir: {st}",
        f"    lab_known_hosts: {st}/ssh/known_hosts",
        f"    lab_api_server: http://{s['_gw']}:{s['api']['port']}",
        f"    lab_etcd_mode: {s['etcd']['mode']}",
        "    # The lab's etcd speaks plain HTTP: no certificates for etcdctl.",
        "    etcd_endpoint: http://127.0.0.1:2379",
        "    etcd_cacert: \"\"",
        "    etcd_cert: \"\"",
        "    etcd_key: \"\"",
    ]
    if s["inventory"]["groups"] == "kubespray":
        # As Kubespray's inventory builder writes hosts.yaml: every host under all.hosts,
        # the groups naming them; etcd on the control plane; optionally control-plane
        # nodes also in kube_node (inventory/sample/inventory.ini of v2.16-v2.20).
        kube_node = [n for n in s["masters"] if n in s["inventory"]["kube_node_masters"]] + s["workers"]
        lines.append("  hosts:")
        for n in s["masters"] + s["workers"]:
            lines += [f"    {n}:", f"      ansible_host: {ips[n]}", f"      ip: {ips[n]}",
                      f"      access_ip: {ips[n]}"]
        lines.append("  children:")
        for group, names in (("kube_control_plane", s["masters"]), ("kube_node", kube_node),
                             ("etcd", s["masters"])):
            lines += [f"    {group}:", "      hosts:" + ("" if names else " {}")]
            lines += [f"        {n}:" for n in names]
        lines += ["    k8s_cluster:", "      children:", "        kube_control_plane:", "        kube_node:",
                  "        calico_rr:", "    calico_rr:", "      hosts: {}"]
        return "\n".join(lines) + "\n"
    lines.append("  children:")
    for group, names in (("masters", s["masters"]), ("workers", s["workers"])):
        lines.append(f"    {group}:")
        if not names:
            lines.append("      hosts: {}")
            continue
        lines.append("      hosts:")
        for n in names:
            lines.append(f"        {n}:")
            lines.append(f"          ansible_host: {ips[n]}")
    return "\n".join(lines) + "\n"


def render(spec_path, state):
    try:
        with open(spec_path) as f:
            raw = json.load(f)
    except json.JSONDecodeError as e:
        raise SpecError(f"{spec_path}:{e.lineno}:{e.colno}: {e.msg}")
    except OSError as e:
        raise SpecError(f"cannot read spec `{spec_path}`: {e.strerror}")
    s = normalize(raw)
    net = ipaddress.ip_network(s["network"]["subnet"])
    hosts_iter = list(net.hosts())
    gw = str(hosts_iter[0])
    ips = {}
    for i, n in enumerate(s["masters"] + s["workers"]):
        ips[n] = str(hosts_iter[9 + i])
    s["_ips"], s["_gw"] = ips, gw
    api_server = f"http://{gw}:{s['api']['port']}"
    os.makedirs(f"{state}/ssh", exist_ok=True)
    os.makedirs(f"{state}/api", exist_ok=True)
    os.makedirs(f"{state}/images", exist_ok=True)
    os.makedirs(f"{state}/pids", exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rtmig-lab-controller",
                    "-f", f"{state}/ssh/id_ed25519"], check=True)
    with open(f"{state}/ssh/id_ed25519.pub") as f:
        pub = f.read()
    known, sshcfg = [], []
    allnames = s["masters"] + s["workers"]
    env = [f"LAB_BRIDGE={s['network']['bridge']}", f"LAB_GW={gw}", f"LAB_PREFIXLEN={net.prefixlen}",
           f"LAB_NETNS_PREFIX={s['network']['netns_prefix']}", f"LAB_VETH_PREFIX={s['network']['veth_prefix']}",
           f"LAB_API_PORT={s['api']['port']}", f"LAB_HOSTS=\"{' '.join(allnames)}\"",
           f"LAB_MASTERS=\"{' '.join(s['masters'])}\"", f"LAB_WORKERS=\"{' '.join(s['workers'])}\""]
    if s["registry"] and s["registry"]["tls"]:
        registry_certs(state, s["registry"]["name"])
    archive_jobs = []
    for i, n in enumerate(allnames):
        role = "master" if n in s["masters"] else "worker"
        ktype, kdata = render_host(s, state, n, role, ips[n], i, pub, api_server)
        known.append(f"{n},{ips[n]} {ktype} {kdata}")
        sshcfg += [f"Host {n}", f"  HostName {ips[n]}", "  User root",
                   f"  IdentityFile {os.path.abspath(state)}/ssh/id_ed25519", "  IdentitiesOnly yes",
                   f"  UserKnownHostsFile {os.path.abspath(state)}/ssh/known_hosts",
                   "  StrictHostKeyChecking yes", ""]
        env.append(f"LAB_IP_{n.replace('-', '_')}={ips[n]}")
        env.append(f"LAB_INDEX_{n.replace('-', '_')}={i}")
        archive_jobs.append((f"{state}/images/{n}.tar", host_images(s, n, role)))
    write(f"{state}/ssh/known_hosts", "\n".join(known) + "\n")
    write(f"{state}/ssh/config", "\n".join(sshcfg))
    write(f"{state}/lab.env", "\n".join(env) + "\n")
    write(f"{state}/kubeconfig", kubeconfig(api_server), 0o600)
    write(f"{state}/inventory.yaml", inventory(s, state, ips))
    write(f"{state}/api/config.json", json.dumps({
        "listen": gw, "port": s["api"]["port"], "version": s["kubernetes"]["version"],
        "node_monitor_grace_seconds": s["api"]["node_monitor_grace_seconds"],
        "registry_node": s["registry_node"],
        "etcd_members": [{"name": n, "host": m, "url": f"http://{a}:2379"}
                         for m, (n, a) in zip(s["masters"], etcd_members(s))]}, indent=2) + "\n")
    write(f"{state}/api/bootstrap.json", json.dumps(api_state(s, ips), indent=2) + "\n")
    if s["registry"]:
        reg = s["registry"]
        write(f"{state}/registry/push.txt", "".join(f"{r}\n" for r in reg["images"]))
        write(f"{state}/registry/pull.txt", "".join(f"{h} {r}\n" for h, r in registry_pulls(s)))
        write(f"{state}/registry/deferred.json",
              json.dumps([w for w in s["workloads"] if deferred(w)], indent=2) + "\n")
        with open(f"{state}/lab.env", "a") as f:
            f.write(f"LAB_REGISTRY_HOST={reg['host']}\nLAB_REGISTRY_NODE={s['registry_node']}\n"
                    f"LAB_REGISTRY_PORT={reg['port']}\n")
    public = {k: v for k, v in s.items() if not k.startswith("_")}
    public["ips"] = ips
    public["gateway"] = gw
    write(f"{state}/spec.json", json.dumps(public, indent=2) + "\n")
    sizes = s["images"].get("size_mb", 0)
    IMG.write_archives(archive_jobs, (lambda ref: sizes.get(ref, 0)) if isinstance(sizes, dict) else (lambda ref: sizes))


API_PATHS = {"Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
             "DaemonSet": "/apis/apps/v1/namespaces/{ns}/daemonsets", "Pod": "/api/v1/namespaces/{ns}/pods"}


def create_deferred(state):
    """After `up` pushed the registry's images: create the workloads that pin them by digest."""
    import urllib.request
    digests = {}
    with open(f"{state}/registry/digests.txt") as f:
        for line in f:
            ref, digest = line.split()
            digests[ref] = digest
    with open(f"{state}/registry/deferred.json") as f:
        workloads = json.load(f)
    with open(f"{state}/api/config.json") as f:
        cfg = json.load(f)
    for w in workloads:
        w = resolve_digests(w, digests)
        path = API_PATHS[w["kind"]].format(ns=w["metadata"].get("namespace", "default"))
        req = urllib.request.Request(f"http://{cfg['listen']}:{cfg['port']}{path}", data=json.dumps(w).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()
        print(f"created {w['kind']} {w['metadata']['name']}: "
              + ", ".join(workload_images([w])))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--create-deferred":
        create_deferred(sys.argv[2])
        return 0
    if len(sys.argv) != 3:
        print("usage: render.py SPEC STATE_DIR", file=sys.stderr)
        return 2
    try:
        render(sys.argv[1], sys.argv[2])
    except SpecError as e:
        print(f"lab: spec error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
