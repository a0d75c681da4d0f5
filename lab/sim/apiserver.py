#!/usr/bin/python3
"""The lab's Kubernetes API server: the subset of the REST API that kubectl and kubelets use.

Plain HTTP, JSON, threaded. It serves discovery (/api, /apis, group versions, /version),
get/list/watch/create/update/patch/delete for nodes, pods, namespaces, events, services,
deployments, replicasets, daemonsets and poddisruptionbudgets, the node and pod `status`
subresources, the deployment `scale` subresource and the policy/v1 `eviction`
subresource; Table responses when kubectl asks for them (`as=Table`), so `kubectl get`
prints kubectl's own columns; label and field selectors; strategic merge, JSON merge
and JSON patches; `dryRun=All`.

Controllers run in a background thread, in a few lines each: a scheduler (taints,
tolerations, nodeSelector, unschedulable and not-ready nodes skipped), deployments ->
replicasets -> pods, daemonsets (one pod per eligible node, rolling a changed template),
PodDisruptionBudget status, and node lifecycle (a node whose kubelet stops posting status
for `node_monitor_grace_seconds` becomes Unknown, with the unreachable taint).
Evictions answer 429 while a PodDisruptionBudget would be violated; evicted pods are
deleted at once and their controllers make replacements on other schedulable nodes.

Like kube-apiserver, it needs its etcd: a thread per etcd member (the lab's real etcd
cluster, `etcd_members` in its config) probes the member's /health every second (a
quorum read: true only while the cluster has a leader and a quorum). While no member is
healthy, every API request waits up to ETCD_WAIT seconds for quorum to come back, then
fails as kube-apiserver's do (500, `etcdserver: request timed out`); /readyz and /healthz
fail on their etcd check; the controllers pause. It recovers by itself. Each change of the
members' state is appended to api/etcd-history.jsonl (also /lab/v1/etcd-history, with the
most members down at once), so tests can assert "never two members down".

State is saved to a JSON file after every change (a restarted server keeps it); every
request is logged, and every change of a node's `spec.unschedulable` is appended to
api/cordon-history.jsonl with the set of cordoned nodes at that moment (also served at
/lab/v1/cordon-history), so tests can assert how many nodes were cordoned at once.

Standard library only: this is a test fixture, not shipped code.
"""
import argparse
import bisect
import copy
import hashlib
import json
import os
import random
import signal
import string
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import k8s as K  # noqa: E402

# (group, resource) -> description
RESOURCES = {
    ("", "nodes"): dict(kind="Node", namespaced=False, short=["no"], sub=["status"], status=True),
    ("", "pods"): dict(kind="Pod", namespaced=True, short=["po"], sub=["status", "eviction"], status=True,
                       categories=["all"]),
    ("", "namespaces"): dict(kind="Namespace", namespaced=False, short=["ns"], sub=["status"], status=True),
    ("", "events"): dict(kind="Event", namespaced=True, short=["ev"], sub=[], status=False),
    ("", "services"): dict(kind="Service", namespaced=True, short=["svc"], sub=["status"], status=True,
                           categories=["all"]),
    ("apps", "deployments"): dict(kind="Deployment", namespaced=True, short=["deploy"], sub=["status", "scale"],
                                  status=True, categories=["all"]),
    ("apps", "replicasets"): dict(kind="ReplicaSet", namespaced=True, short=["rs"], sub=["status", "scale"],
                                  status=True, categories=["all"]),
    ("apps", "daemonsets"): dict(kind="DaemonSet", namespaced=True, short=["ds"], sub=["status"], status=True,
                                 categories=["all"]),
    ("policy", "poddisruptionbudgets"): dict(kind="PodDisruptionBudget", namespaced=True, short=["pdb"],
                                             sub=["status"], status=True),
    ("coordination.k8s.io", "leases"): dict(kind="Lease", namespaced=True, short=[], sub=[], status=False),
}
VERSIONS = {"": "v1", "apps": "v1", "policy": "v1", "coordination.k8s.io": "v1"}
GROUPS = ("apps", "policy", "coordination.k8s.io")
KIND_TO_RES = {d["kind"]: (g, r) for (g, r), d in RESOURCES.items()}
FIELDS = {
    "pods": {"metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
             "spec.schedulerName", "spec.serviceAccountName", "status.phase", "status.podIP",
             "status.nominatedNodeName"},
    "nodes": {"metadata.name", "spec.unschedulable"},
    "events": {"metadata.name", "metadata.namespace", "involvedObject.kind", "involvedObject.namespace",
               "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
               "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "source", "type",
               "reportingComponent"},
}
DEFAULT_FIELDS = {"metadata.name", "metadata.namespace"}
HASH_CHARS = "bcdfghjklmnpqrstvwxz2456789"


class APIError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
             "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            s["details"] = self.details
        return s


def not_found(res, name, group=""):
    gr = f"{res}.{group}" if group else res
    return APIError(404, "NotFound", f'{gr} "{name}" not found',
                    {"name": name, "group": group, "kind": res})


def rand_suffix(n=5):
    return "".join(random.choice(HASH_CHARS) for _ in range(n))


def template_hash(template):
    h = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(HASH_CHARS[b % len(HASH_CHARS)] for b in h[:10])


def api_version(group):
    return f"{group}/{VERSIONS[group]}" if group else "v1"


ETCD_WAIT = 4.0      # how long a request waits for a lost quorum before failing
ETCD_PROBE = 1.0     # seconds between two probes of a member


class Etcd:
    """The etcd cluster as the API server sees it: each member up (answers) and healthy
    (answers /health true: it has a leader and a quorum read succeeds)."""

    def __init__(self, members, history_path):
        self.members = members  # [{"name", "host", "url"}]
        self.history_path = history_path
        self.cond = threading.Condition()
        self.state = {m["name"]: {"up": False, "healthy": False, "error": "not probed yet"} for m in members}
        self.last = None

    @property
    def quorum(self):
        return not self.members or any(v["healthy"] for v in self.state.values())

    def start(self):
        for m in self.members:
            threading.Thread(target=self.probe_loop, args=(m,), daemon=True).start()

    def probe(self, m):
        try:
            with urllib.request.urlopen(m["url"] + "/health", timeout=1.5) as r:
                body = json.loads(r.read() or b"{}")
            return {"up": True, "healthy": str(body.get("health")) == "true", "error": body.get("reason", "")}
        except urllib.error.HTTPError as e:  # 503 {"health":"false"} while there is no quorum
            try:
                body = json.loads(e.read() or b"{}")
            except ValueError:
                body = {}
            return {"up": True, "healthy": False, "error": body.get("reason", f"HTTP {e.code}")}
        except (OSError, ValueError) as e:
            return {"up": False, "healthy": False, "error": str(getattr(e, "reason", e))}

    def probe_loop(self, m):
        while True:
            t0 = time.time()
            st = self.probe(m)
            with self.cond:
                if (st["up"], st["healthy"]) != (self.state[m["name"]]["up"], self.state[m["name"]]["healthy"]):
                    self.state[m["name"]] = st
                    self.note()
                    self.cond.notify_all()
                else:
                    self.state[m["name"]] = st
            time.sleep(max(0.1, ETCD_PROBE - (time.time() - t0)))

    def note(self):
        down = sorted(n for n, v in self.state.items() if not v["up"])
        unhealthy = sorted(n for n, v in self.state.items() if not v["healthy"])
        key = (tuple(down), tuple(unhealthy))
        if key == self.last:
            return
        self.last = key
        line = {"time": K.rfc3339(time.time()), "ts": time.time(), "down": down, "unhealthy": unhealthy,
                "quorum": self.quorum, "members": len(self.members)}
        try:
            with open(self.history_path, "a") as f:
                f.write(json.dumps(line) + "\n")
        except OSError:
            pass

    def wait_quorum(self, timeout):
        with self.cond:
            return self.cond.wait_for(lambda: self.quorum, timeout)

    def history(self):
        lines = []
        if os.path.exists(self.history_path):
            with open(self.history_path) as f:
                lines = [json.loads(x) for x in f if x.strip()]
        # before the first time every member was up, the cluster was still starting
        first = next((i for i, x in enumerate(lines) if not x["down"]), len(lines))
        after = lines[first:]
        return {"members": [m["name"] for m in self.members], "events": lines,
                "maxDown": max([len(x["down"]) for x in after] or [0]),
                "maxUnhealthy": max([len(x["unhealthy"]) for x in after] or [0]),
                "quorumLost": sum(1 for x in after if not x["quorum"]),
                "now": self.state}


class Store:
    """All objects, resource versions, the watch event log and persistence."""

    def __init__(self, cfg, state_path, bootstrap_path, log_path):
        self.cfg = cfg
        self.state_path = state_path
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.objs = {}  # (group, res) -> {(ns, name): obj}
        self.rv = 1
        self.events = []  # (rv, type, (group,res), obj), in rv order
        self.event_rvs = []
        self.dirty = False
        self.bootstrapping = False
        self.log_path = log_path
        self.history_path = os.path.join(os.path.dirname(state_path), "cordon-history.jsonl")
        for k in RESOURCES:
            self.objs[k] = {}
        if os.path.exists(state_path):
            with open(state_path) as f:
                data = json.load(f)
            self.rv = data["rv"]
            for key, items in data["objects"].items():
                g, r = key.split("/", 1) if "/" in key else ("", key)
                for o in items:
                    self.objs[(g, r)][(o["metadata"].get("namespace", ""), o["metadata"]["name"])] = o
        elif bootstrap_path and os.path.exists(bootstrap_path):
            with open(bootstrap_path) as f:
                self.bootstrap(json.load(f))

    # ---- persistence ----------------------------------------------------------------
    def save(self):
        with self.lock:
            if not self.dirty:
                return
            data = {"rv": self.rv, "objects": {}}
            for (g, r), items in self.objs.items():
                data["objects"][f"{g}/{r}" if g else r] = list(items.values())
            self.dirty = False
            text = json.dumps(data)
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.state_path)

    def saver(self):
        while True:
            time.sleep(0.2)
            try:
                self.save()
            except Exception:
                traceback.print_exc()

    # ---- bootstrap --------------------------------------------------------------------
    def bootstrap(self, b):
        """The cluster as it has been running for a while: created three days ago."""
        born = time.time() - 3 * 86400
        self.bootstrapping = True
        for ns in b["namespaces"]:
            self.create(("", "namespaces"), "", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": ns}}, created=born)
        self.create(("", "services"), "default", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}},
            created=born)
        for n in b["nodes"]:
            self.create(("", "nodes"), "", n, created=born)
        for o in b["objects"]:
            key = KIND_TO_RES[o["kind"]]
            ns = o["metadata"].get("namespace", "default") if RESOURCES[key]["namespaced"] else ""
            if o["kind"] == "Pod" and "kubernetes.io/config.mirror" in o["metadata"].get("annotations", {}):
                node = self.get(("", "nodes"), "", o["spec"]["nodeName"])
                o = copy.deepcopy(o)
                o["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node["metadata"]["name"],
                                                     "uid": node["metadata"]["uid"], "controller": True}]
            self.create(key, ns, o, created=born)

    # ---- core operations --------------------------------------------------------------
    def table(self, key):
        return self.objs[key]

    def get(self, key, ns, name):
        o = self.objs[key].get((ns, name))
        if o is None:
            raise not_found(key[1], name, key[0])
        return o

    def record(self, typ, key, obj):
        self.events.append((self.rv, typ, key, copy.deepcopy(obj)))
        self.event_rvs.append(self.rv)
        if len(self.events) > 20000:
            del self.events[:5000]
            del self.event_rvs[:5000]
        self.dirty = True
        self.cond.notify_all()

    def bump(self, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def create(self, key, ns, obj, created=None, dry=False):
        with self.lock:
            group, res = key
            desc = RESOURCES[key]
            obj = copy.deepcopy(obj)
            md = obj.setdefault("metadata", {})
            if not md.get("name"):
                if md.get("generateName"):
                    md["name"] = md["generateName"] + rand_suffix()
                else:
                    raise APIError(422, "Invalid", f"{desc['kind']} \"\" is invalid: metadata.name: "
                                   "Required value: name or generateName is required")
            if desc["namespaced"]:
                ns = ns or md.get("namespace") or "default"
                if md.get("namespace") and md["namespace"] != ns:
                    raise APIError(400, "BadRequest", "the namespace of the provided object does not match "
                                   "the namespace sent on the request")
                if ("", ns) not in self.objs[("", "namespaces")] and not self.bootstrapping:
                    raise APIError(404, "NotFound", f'namespaces "{ns}" not found')
                md["namespace"] = ns
            else:
                ns = ""
                md.pop("namespace", None)
            if (ns, md["name"]) in self.objs[key]:
                gr = f"{res}.{group}" if group else res
                raise APIError(409, "AlreadyExists", f'{gr} "{md["name"]}" already exists',
                               {"name": md["name"], "group": group, "kind": res})
            obj["apiVersion"] = api_version(group)
            obj["kind"] = desc["kind"]
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = K.rfc3339(created or time.time())
            if res in ("deployments", "replicasets", "daemonsets", "poddisruptionbudgets"):
                md["generation"] = 1
            self.defaults(key, obj)
            if dry:
                return obj
            self.bump(obj)
            self.objs[key][(ns, md["name"])] = obj
            self.record("ADDED", key, obj)
            if res == "nodes":
                self.note_cordon(obj, None)
            return obj

    def defaults(self, key, obj):
        res = key[1]
        spec = obj.setdefault("spec", {}) if res not in ("events",) else None
        if res == "pods":
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("schedulerName", "default-scheduler")
            spec.setdefault("dnsPolicy", "ClusterFirst")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            for c in spec.get("containers", []):
                c.setdefault("imagePullPolicy", "IfNotPresent")
                c.setdefault("terminationMessagePath", "/dev/termination-log")
            st = obj.setdefault("status", {})
            st.setdefault("phase", "Pending")
            st.setdefault("qosClass", "BestEffort")
            if spec.get("nodeName"):
                st.setdefault("conditions", [{"type": "PodScheduled", "status": "True",
                                              "lastTransitionTime": obj["metadata"]["creationTimestamp"]}])
        elif res == "namespaces":
            obj.setdefault("status", {"phase": "Active"})
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        elif res == "nodes":
            obj.setdefault("status", {})
            st = obj["status"]
            if not st.get("conditions"):
                t = obj["metadata"]["creationTimestamp"]
                st["conditions"] = [
                    {"type": c, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                     "message": "Kubelet never posted node status.", "lastHeartbeatTime": t,
                     "lastTransitionTime": t}
                    for c in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")]
            st.setdefault("nodeInfo", {"kubeletVersion": "", "containerRuntimeVersion": "",
                                       "osImage": "", "kernelVersion": "", "operatingSystem": "linux",
                                       "architecture": "amd64"})
        elif res in ("deployments", "replicasets"):
            spec.setdefault("replicas", 1)
            if res == "deployments":
                spec.setdefault("strategy", {"type": "RollingUpdate",
                                             "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
                spec.setdefault("revisionHistoryLimit", 10)
            obj.setdefault("status", {})
        elif res == "daemonsets":
            spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
            spec.setdefault("revisionHistoryLimit", 10)
            obj.setdefault("status", {"currentNumberScheduled": 0, "desiredNumberScheduled": 0,
                                      "numberMisscheduled": 0, "numberReady": 0})
        elif res == "poddisruptionbudgets":
            obj.setdefault("status", {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0,
                                      "expectedPods": 0})

    def replace(self, key, ns, name, new, subresource=None, dry=False, check_rv=True):
        """PUT semantics: the main resource keeps its status, /status keeps everything else."""
        with self.lock:
            old = self.get(key, ns, name)
            new = copy.deepcopy(new)
            md = new.setdefault("metadata", {})
            if check_rv and md.get("resourceVersion") and md["resourceVersion"] != old["metadata"]["resourceVersion"]:
                gr = f"{key[1]}.{key[0]}" if key[0] else key[1]
                raise APIError(409, "Conflict", f'Operation cannot be fulfilled on {gr} "{name}": the object '
                               "has been modified; please apply your changes to the latest version and try again",
                               {"name": name, "group": key[0], "kind": key[1]})
            if md.get("name", name) != name:
                raise APIError(400, "BadRequest", f'the name of the object ({md.get("name")}) does not match '
                               f"the name on the URL ({name})")
            desc = RESOURCES[key]
            if subresource == "status":
                result = copy.deepcopy(old)
                result["status"] = new.get("status", {})
            else:
                result = new
                for k in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "namespace"):
                    if k in old["metadata"]:
                        md[k] = old["metadata"][k]
                    else:
                        md.pop(k, None)
                if desc["status"] and "status" in old:
                    result["status"] = old["status"]
                result["apiVersion"] = old["apiVersion"]
                result["kind"] = old["kind"]
                if "generation" in old["metadata"] and result.get("spec") != old.get("spec"):
                    md["generation"] = old["metadata"]["generation"] + 1
            result["metadata"]["name"] = name
            if dry:
                return result
            if result == old:
                return old
            self.bump(result)
            self.objs[key][(ns, name)] = result
            self.record("MODIFIED", key, result)
            if key[1] == "nodes":
                self.note_cordon(result, old)
            return result

    def delete(self, key, ns, name, dry=False):
        with self.lock:
            old = self.get(key, ns, name)
            if dry:
                return old
            del self.objs[key][(ns, name)]
            gone = copy.deepcopy(old)
            self.rv += 1
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self.record("DELETED", key, gone)
            # cascade: what this object owns goes too (background propagation)
            uid = old["metadata"]["uid"]
            for k2, items in self.objs.items():
                for (ns2, n2), o in list(items.items()):
                    if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences", [])):
                        self.delete(k2, ns2, n2)
            if key[1] == "nodes":
                for (ns2, n2), p in list(self.objs[("", "pods")].items()):
                    if p["spec"].get("nodeName") == name:
                        self.delete(("", "pods"), ns2, n2)
                self.note_cordon({"metadata": {"name": name}, "spec": {}}, old)
            return gone

    def note_cordon(self, new, old):
        was = bool((old or {}).get("spec", {}).get("unschedulable"))
        now_ = bool(new.get("spec", {}).get("unschedulable"))
        if was == now_:
            return
        cordoned = sorted(n["metadata"]["name"] for n in self.objs[("", "nodes")].values()
                          if n.get("spec", {}).get("unschedulable"))
        line = {"time": K.rfc3339(time.time()), "ts": time.time(), "node": new["metadata"]["name"],
                "unschedulable": now_, "cordoned": cordoned}
        with open(self.history_path, "a") as f:
            f.write(json.dumps(line) + "\n")


# ---- the controllers ------------------------------------------------------------------------
class Controllers:
    def __init__(self, store):
        self.s = store
        self.grace = float(store.cfg.get("node_monitor_grace_seconds", 40))

    etcd = None
    resume_at = 0.0

    def loop(self):
        while True:
            if self.etcd is not None and not self.etcd.quorum:
                # kube-controller-manager and the scheduler cannot write either; node
                # heartbeats could not land meanwhile, so the node monitor's clock restarts
                self.etcd.wait_quorum(5.0)
                if self.etcd.quorum:
                    self.resume_at = time.time()
                continue
            try:
                with self.s.lock:
                    self.run_once()
                    self.s.bootstrapping = False
            except Exception:
                traceback.print_exc()
            with self.s.cond:
                self.s.cond.wait(0.5)

    def run_once(self):
        self.node_lifecycle()
        self.deployments()
        self.replicasets()
        self.daemonsets()
        self.schedule()
        self.pdbs()
        self.deployment_status()

    # -- helpers
    def pods(self):
        return self.s.table(("", "pods"))

    def nodes(self):
        return self.s.table(("", "nodes"))

    def owned(self, uid):
        return [p for p in self.pods().values()
                if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences", []))]

    def put(self, key, obj):
        md = obj["metadata"]
        return self.s.replace(key, md.get("namespace", ""), md["name"], obj, check_rv=False)

    def put_status(self, key, obj, status):
        if obj.get("status") == status:
            return obj
        new = copy.deepcopy(obj)
        new["status"] = status
        md = obj["metadata"]
        return self.s.replace(key, md.get("namespace", ""), md["name"], new, "status", check_rv=False)

    # -- node lifecycle
    def node_lifecycle(self):
        now = time.time()
        for node in list(self.nodes().values()):
            st = node.get("status", {})
            conds = copy.deepcopy(st.get("conditions", []))
            ready = next((c for c in conds if c["type"] == "Ready"), None)
            changed = False
            if ready and ready["status"] != "Unknown":
                hb = max(K.parse_time(ready.get("lastHeartbeatTime")) or 0, self.resume_at)
                if now - hb > self.grace:
                    for c in conds:
                        c.update({"status": "Unknown", "reason": "NodeStatusUnknown",
                                  "message": "Kubelet stopped posting node status.",
                                  "lastTransitionTime": K.rfc3339(now)})
                    changed = True
            taints = [t for t in node["spec"].get("taints", []) or []
                      if not t["key"].startswith("node.kubernetes.io/")]
            status = ready["status"] if ready else "Unknown"
            never = ready is not None and ready.get("reason") == "NodeStatusNeverUpdated"
            if status == "Unknown" and not never:
                taints += [{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule",
                            "timeAdded": K.rfc3339(now)}]
            elif status == "False":
                taints += [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule",
                            "timeAdded": K.rfc3339(now)}]
            if node["spec"].get("unschedulable"):
                taints += [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                            "timeAdded": K.rfc3339(now)}]
            old_keys = sorted((t["key"], t["effect"]) for t in node["spec"].get("taints", []) or [])
            new_keys = sorted((t["key"], t["effect"]) for t in taints)
            if old_keys != new_keys:
                keep = {(t["key"], t["effect"]): t for t in node["spec"].get("taints", []) or []}
                new = copy.deepcopy(node)
                new["spec"]["taints"] = [keep.get((t["key"], t["effect"]), t) for t in taints]
                if not new["spec"]["taints"]:
                    del new["spec"]["taints"]
                node = self.put(("", "nodes"), new)
            if changed:
                st2 = copy.deepcopy(node["status"])
                st2["conditions"] = conds
                node = self.put_status(("", "nodes"), node, st2)
                # pods on a node that went silent are no longer Ready
                for p in list(self.pods().values()):
                    if p["spec"].get("nodeName") == node["metadata"]["name"]:
                        pst = copy.deepcopy(p.get("status", {}))
                        for c in pst.get("conditions", []):
                            if c["type"] in ("Ready", "ContainersReady") and c["status"] == "True":
                                c["status"] = "False"
                                c["lastTransitionTime"] = K.rfc3339(now)
                        self.put_status(("", "pods"), p, pst)

    # -- deployments and replicasets
    def deployments(self):
        rss = self.s.table(("apps", "replicasets"))
        for d in list(self.s.table(("apps", "deployments")).values()):
            md, spec = d["metadata"], d["spec"]
            h = template_hash(spec.get("template", {}))
            name = f"{md['name']}-{h}"
            ns = md["namespace"]
            mine = [r for r in rss.values() if r["metadata"].get("namespace") == ns and any(
                o.get("uid") == md["uid"] for o in r["metadata"].get("ownerReferences", []))]
            current = next((r for r in mine if r["metadata"]["name"] == name), None)
            want = spec.get("replicas", 1)
            if current is None:
                tmpl = copy.deepcopy(spec.get("template", {}))
                tmpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
                sel = copy.deepcopy(spec.get("selector", {}))
                sel.setdefault("matchLabels", {})["pod-template-hash"] = h
                created = K.parse_time(md["creationTimestamp"]) if self.s.bootstrapping else None
                current = self.s.create(("apps", "replicasets"), ns, {
                    "metadata": {"name": name, "namespace": ns,
                                 "labels": dict(tmpl["metadata"]["labels"]),
                                 "annotations": {"deployment.kubernetes.io/desired-replicas": str(want),
                                                 "deployment.kubernetes.io/revision": str(len(mine) + 1)},
                                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                      "name": md["name"], "uid": md["uid"],
                                                      "controller": True, "blockOwnerDeletion": True}]},
                    "spec": {"replicas": want, "selector": sel, "template": tmpl}}, created=created)
            elif current["spec"].get("replicas") != want:
                new = copy.deepcopy(current)
                new["spec"]["replicas"] = want
                self.put(("apps", "replicasets"), new)
            for r in mine:
                if r["metadata"]["name"] != name and r["spec"].get("replicas", 0) != 0:
                    new = copy.deepcopy(r)
                    new["spec"]["replicas"] = 0
                    self.put(("apps", "replicasets"), new)

    def replicasets(self):
        for rs in list(self.s.table(("apps", "replicasets")).values()):
            md = rs["metadata"]
            pods = [p for p in self.owned(md["uid"]) if not p["metadata"].get("deletionTimestamp")]
            want = rs["spec"].get("replicas", 1)
            while len(pods) > want:
                # remove unscheduled first, then the newest
                pods.sort(key=lambda p: (bool(p["spec"].get("nodeName")), p["metadata"]["creationTimestamp"]))
                victim = pods.pop(0)
                self.s.delete(("", "pods"), victim["metadata"]["namespace"], victim["metadata"]["name"])
            for _ in range(want - len(pods)):
                self.new_pod(rs, "ReplicaSet", "apps/v1")
            ready = sum(1 for p in self.owned(md["uid"]) if K.pod_is_ready(p))
            status = {"replicas": len(self.owned(md["uid"])), "fullyLabeledReplicas": len(self.owned(md["uid"])),
                      "readyReplicas": ready, "availableReplicas": ready,
                      "observedGeneration": md.get("generation", 1)}
            if not ready:
                status.pop("readyReplicas")
                status.pop("availableReplicas")
            self.put_status(("apps", "replicasets"), rs, status)

    def new_pod(self, owner, kind, apiv, node=None, extra_labels=None):
        md = owner["metadata"]
        tmpl = copy.deepcopy(owner["spec"].get("template", {}))
        labels = dict(tmpl.get("metadata", {}).get("labels", {}))
        labels.update(extra_labels or {})
        spec = tmpl.get("spec", {})
        if node:
            spec["nodeName"] = node
        created = K.parse_time(md["creationTimestamp"]) if self.s.bootstrapping else None
        pod = {"metadata": {"name": f"{md['name']}-{rand_suffix()}", "namespace": md["namespace"],
                            "labels": labels, "annotations": dict(tmpl.get("metadata", {}).get("annotations", {})),
                            "ownerReferences": [{"apiVersion": apiv, "kind": kind, "name": md["name"],
                                                 "uid": md["uid"], "controller": True, "blockOwnerDeletion": True}]},
               "spec": spec}
        return self.s.create(("", "pods"), md["namespace"], pod, created=created)

    def deployment_status(self):
        rss = self.s.table(("apps", "replicasets"))
        for d in list(self.s.table(("apps", "deployments")).values()):
            md = d["metadata"]
            mine = [r for r in rss.values() if any(o.get("uid") == md["uid"]
                                                   for o in r["metadata"].get("ownerReferences", []))]
            h = template_hash(d["spec"].get("template", {}))
            pods, updated = [], 0
            for r in mine:
                ps = self.owned(r["metadata"]["uid"])
                pods += ps
                if r["metadata"]["name"].endswith("-" + h):
                    updated += len(ps)
            ready = sum(1 for p in pods if K.pod_is_ready(p))
            want = d["spec"].get("replicas", 1)
            now = K.rfc3339(time.time())
            old = {c["type"]: c for c in d.get("status", {}).get("conditions", [])}

            def cond(t, ok, reason, msg):
                prev = old.get(t)
                st = "True" if ok else "False"
                lt = prev["lastTransitionTime"] if prev and prev["status"] == st else now
                return {"type": t, "status": st, "reason": reason, "message": msg,
                        "lastUpdateTime": prev["lastUpdateTime"] if prev and prev["status"] == st else now,
                        "lastTransitionTime": lt}

            status = {"observedGeneration": md.get("generation", 1), "replicas": len(pods),
                      "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
                      "conditions": [
                          cond("Available", ready >= want, "MinimumReplicasAvailable" if ready >= want
                               else "MinimumReplicasUnavailable",
                               "Deployment has minimum availability." if ready >= want
                               else "Deployment does not have minimum availability."),
                          cond("Progressing", True, "NewReplicaSetAvailable",
                               f'ReplicaSet "{md["name"]}-{h}" has successfully progressed.')]}
            if len(pods) - ready:
                status["unavailableReplicas"] = len(pods) - ready
            for k in ("readyReplicas", "availableReplicas"):
                if not status[k]:
                    del status[k]
            self.put_status(("apps", "deployments"), d, status)

    # -- daemonsets
    def eligible(self, node, podspec, daemon=False):
        labels = node["metadata"].get("labels", {})
        for k, v in (podspec.get("nodeSelector") or {}).items():
            if labels.get(k) != v:
                return False
        tol = list(podspec.get("tolerations") or [])
        if daemon:
            tol += [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
                    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"}]
        for t in node["spec"].get("taints", []) or []:
            if t.get("effect") in ("NoSchedule", "NoExecute") and not K.tolerates(tol, t):
                if self.s.bootstrapping and t["key"].startswith("node.kubernetes.io/"):
                    continue
                return False
        return True

    def daemonsets(self):
        for ds in list(self.s.table(("apps", "daemonsets")).values()):
            md = ds["metadata"]
            tmpl = ds["spec"].get("template", {})
            h = template_hash(tmpl)[:10]
            podspec = tmpl.get("spec", {})
            pods = self.owned(md["uid"])
            by_node = {}
            for p in pods:
                by_node.setdefault(p["spec"].get("nodeName"), []).append(p)
            desired = 0
            for node in sorted(self.nodes().values(), key=lambda n: n["metadata"]["name"]):
                n = node["metadata"]["name"]
                ok = self.eligible(node, podspec, daemon=True)
                have = by_node.get(n, [])
                if ok:
                    desired += 1
                    current = [p for p in have if p["metadata"].get("labels", {}).get("controller-revision-hash") == h]
                    for p in have:
                        if p not in current or current.index(p) > 0:
                            self.s.delete(("", "pods"), p["metadata"]["namespace"], p["metadata"]["name"])
                    if not current:
                        self.new_pod(ds, "DaemonSet", "apps/v1", node=n,
                                     extra_labels={"controller-revision-hash": h, "pod-template-generation":
                                                   str(md.get("generation", 1))})
                else:
                    for p in have:
                        self.s.delete(("", "pods"), p["metadata"]["namespace"], p["metadata"]["name"])
            pods = self.owned(md["uid"])
            ready = sum(1 for p in pods if K.pod_is_ready(p))
            updated = sum(1 for p in pods if p["metadata"].get("labels", {}).get("controller-revision-hash") == h)
            status = {"currentNumberScheduled": len(pods), "desiredNumberScheduled": desired,
                      "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                      "updatedNumberScheduled": updated, "observedGeneration": md.get("generation", 1)}
            if desired - ready > 0:
                status["numberUnavailable"] = desired - ready
            if not ready:
                del status["numberAvailable"]
            self.put_status(("apps", "daemonsets"), ds, status)

    # -- scheduler
    def schedule(self):
        counts = {}
        for p in self.pods().values():
            n = p["spec"].get("nodeName")
            if n:
                counts[n] = counts.get(n, 0) + 1
        for p in sorted(self.pods().values(), key=lambda p: p["metadata"]["creationTimestamp"]):
            if p["spec"].get("nodeName"):
                continue
            candidates, reasons = [], {}
            for node in self.nodes().values():
                name = node["metadata"]["name"]
                if node["spec"].get("unschedulable") and not self.s.bootstrapping:
                    reasons["node(s) were unschedulable"] = reasons.get("node(s) were unschedulable", 0) + 1
                    continue
                if K.node_ready_status(node) != "True" and not self.s.bootstrapping:
                    reasons["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"] = \
                        reasons.get("node(s) had untolerated taint {node.kubernetes.io/not-ready: }", 0) + 1
                    continue
                if not self.eligible(node, p["spec"]):
                    k = "node(s) didn't match Pod's node affinity/selector or had untolerated taints"
                    reasons[k] = reasons.get(k, 0) + 1
                    continue
                candidates.append(name)
            if not candidates:
                total = len(self.nodes())
                msg = f"0/{total} nodes are available: " + ", ".join(f"{v} {k}" for k, v in sorted(reasons.items())) + "."
                conds = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg,
                          "lastTransitionTime": p["metadata"]["creationTimestamp"], "lastProbeTime": None}]
                if p.get("status", {}).get("conditions") != conds:
                    st = copy.deepcopy(p.get("status", {}))
                    st["conditions"] = conds
                    st["phase"] = "Pending"
                    self.put_status(("", "pods"), p, st)
                continue
            # spread: the node with the fewest pods of this owner, then the fewest pods
            owner = (p["metadata"].get("ownerReferences") or [{}])[0].get("uid")
            same = {}
            for q in self.pods().values():
                if owner and q["spec"].get("nodeName") and (q["metadata"].get("ownerReferences") or [{}])[0].get("uid") == owner:
                    same[q["spec"]["nodeName"]] = same.get(q["spec"]["nodeName"], 0) + 1
            best = min(candidates, key=lambda n: (same.get(n, 0), counts.get(n, 0), n))
            counts[best] = counts.get(best, 0) + 1
            new = copy.deepcopy(p)
            new["spec"]["nodeName"] = best
            p = self.put(("", "pods"), new)
            st = copy.deepcopy(p.get("status", {}))
            st["conditions"] = [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                 "lastTransitionTime": K.rfc3339(time.time())}]
            self.put_status(("", "pods"), p, st)

    # -- pod disruption budgets
    def pdb_numbers(self, pdb):
        ns = pdb["metadata"]["namespace"]
        sel = pdb["spec"].get("selector")
        pods = [p for p in self.pods().values() if p["metadata"]["namespace"] == ns
                and K.selector_matches(sel, p["metadata"].get("labels")) and not p["metadata"].get("deletionTimestamp")]
        expected = 0
        seen = set()
        for p in pods:
            ref = next((r for r in p["metadata"].get("ownerReferences", []) if r.get("controller")), None)
            if ref is None or ref["uid"] in seen:
                if ref is None:
                    expected += 1
                continue
            seen.add(ref["uid"])
            if ref["kind"] == "ReplicaSet":
                rs = next((r for r in self.s.table(("apps", "replicasets")).values()
                           if r["metadata"]["uid"] == ref["uid"]), None)
                owner = rs and next((o for o in rs["metadata"].get("ownerReferences", []) if o.get("controller")), None)
                dep = owner and next((d for d in self.s.table(("apps", "deployments")).values()
                                      if d["metadata"]["uid"] == owner["uid"]), None)
                expected += (dep or rs or {"spec": {"replicas": 1}})["spec"].get("replicas", 1)
            else:
                expected += sum(1 for q in pods if any(r.get("uid") == ref["uid"]
                                                       for r in q["metadata"].get("ownerReferences", [])))
        healthy = sum(1 for p in pods if K.pod_is_ready(p))

        def scaled(v, roundup=True):
            if isinstance(v, str) and v.endswith("%"):
                import math
                x = int(v[:-1]) * expected / 100.0
                return math.ceil(x) if roundup else math.floor(x)
            return int(v)

        if "minAvailable" in pdb["spec"]:
            desired = scaled(pdb["spec"]["minAvailable"])
        elif "maxUnavailable" in pdb["spec"]:
            desired = max(0, expected - scaled(pdb["spec"]["maxUnavailable"]))
        else:
            desired = expected
        allowed = max(0, healthy - desired)
        return pods, expected, healthy, desired, allowed

    def pdbs(self):
        for pdb in list(self.s.table(("policy", "poddisruptionbudgets")).values()):
            _, expected, healthy, desired, allowed = self.pdb_numbers(pdb)
            old = {c["type"]: c for c in pdb.get("status", {}).get("conditions", [])}
            st = "True" if allowed > 0 else "False"
            prev = old.get("DisruptionAllowed")
            cond = {"type": "DisruptionAllowed", "status": st,
                    "reason": "SufficientPods" if allowed > 0 else "InsufficientPods",
                    "message": "", "observedGeneration": pdb["metadata"].get("generation", 1),
                    "lastTransitionTime": prev["lastTransitionTime"] if prev and prev["status"] == st
                    else K.rfc3339(time.time())}
            status = {"observedGeneration": pdb["metadata"].get("generation", 1), "disruptionsAllowed": allowed,
                      "currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
                      "conditions": [cond]}
            self.put_status(("policy", "poddisruptionbudgets"), pdb, status)


# ---- tables: kubectl's columns, computed here -----------------------------------------------
def col(name, typ="string", fmt="", desc="", priority=0):
    return {"name": name, "type": typ, "format": fmt, "description": desc, "priority": priority}


def age(o):
    t = K.parse_time(o["metadata"].get("creationTimestamp"))
    return K.human_duration(time.time() - t) if t else "<unknown>"


def containers_images(podspec):
    cs = podspec.get("containers", [])
    return ",".join(c["name"] for c in cs), ",".join(c.get("image", "") for c in cs)


def selector_string(sel):
    parts = [f"{k}={v}" for k, v in sorted((sel or {}).get("matchLabels", {}).items())]
    for e in (sel or {}).get("matchExpressions", []) or []:
        parts.append(f"{e['key']} {e['operator'].lower()} ({','.join(e.get('values', []))})")
    return ",".join(parts) or "<none>"


def table_for(res, objs):
    if res == "nodes":
        cols = [col("Name", fmt="name"), col("Status"), col("Roles"), col("Age"), col("Version"),
                col("Internal-IP", priority=1), col("External-IP", priority=1), col("OS-Image", priority=1),
                col("Kernel-Version", priority=1), col("Container-Runtime", priority=1)]

        def row(n):
            addr = {a["type"]: a["address"] for a in n.get("status", {}).get("addresses", [])}
            ni = n.get("status", {}).get("nodeInfo", {})
            return [n["metadata"]["name"], K.node_status_string(n), K.node_roles(n), age(n),
                    ni.get("kubeletVersion", ""), addr.get("InternalIP", "<none>"),
                    addr.get("ExternalIP", "<none>"), ni.get("osImage", "<unknown>") or "<unknown>",
                    ni.get("kernelVersion", "<unknown>") or "<unknown>",
                    ni.get("containerRuntimeVersion", "<unknown>") or "<unknown>"]
    elif res == "pods":
        cols = [col("Name", fmt="name"), col("Ready"), col("Status"), col("Restarts", "string"), col("Age"),
                col("IP", priority=1), col("Node", priority=1), col("Nominated Node", priority=1),
                col("Readiness Gates", priority=1)]

        def row(p):
            st = p.get("status", {})
            restarts = sum(c.get("restartCount", 0) for c in st.get("containerStatuses", []) or [])
            return [p["metadata"]["name"], K.pod_ready_string(p), K.pod_status_string(p), str(restarts), age(p),
                    st.get("podIP") or "<none>", p["spec"].get("nodeName") or "<none>",
                    st.get("nominatedNodeName") or "<none>", "<none>"]
    elif res == "deployments":
        cols = [col("Name", fmt="name"), col("Ready"), col("Up-to-date", "integer"), col("Available", "integer"),
                col("Age"), col("Containers", priority=1), col("Images", priority=1), col("Selector", priority=1)]

        def row(d):
            st = d.get("status", {})
            c, i = containers_images(d["spec"].get("template", {}).get("spec", {}))
            return [d["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{d['spec'].get('replicas', 1)}",
                    st.get("updatedReplicas", 0), st.get("availableReplicas", 0), age(d), c, i,
                    selector_string(d["spec"].get("selector"))]
    elif res == "replicasets":
        cols = [col("Name", fmt="name"), col("Desired", "integer"), col("Current", "integer"),
                col("Ready", "integer"), col("Age"), col("Containers", priority=1), col("Images", priority=1),
                col("Selector", priority=1)]

        def row(r):
            st = r.get("status", {})
            c, i = containers_images(r["spec"].get("template", {}).get("spec", {}))
            return [r["metadata"]["name"], r["spec"].get("replicas", 1), st.get("replicas", 0),
                    st.get("readyReplicas", 0), age(r), c, i, selector_string(r["spec"].get("selector"))]
    elif res == "daemonsets":
        cols = [col("Name", fmt="name"), col("Desired", "integer"), col("Current", "integer"),
                col("Ready", "integer"), col("Up-to-date", "integer"), col("Available", "integer"),
                col("Node Selector"), col("Age"), col("Containers", priority=1), col("Images", priority=1),
                col("Selector", priority=1)]

        def row(d):
            st = d.get("status", {})
            spec = d["spec"].get("template", {}).get("spec", {})
            c, i = containers_images(spec)
            ns = ",".join(f"{k}={v}" for k, v in sorted((spec.get("nodeSelector") or {}).items())) or "<none>"
            return [d["metadata"]["name"], st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0),
                    st.get("numberReady", 0), st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0),
                    ns, age(d), c, i, selector_string(d["spec"].get("selector"))]
    elif res == "poddisruptionbudgets":
        cols = [col("Name", fmt="name"), col("Min Available"), col("Max Unavailable"),
                col("Allowed Disruptions", "integer"), col("Age")]

        def row(p):
            sp = p["spec"]
            return [p["metadata"]["name"], str(sp["minAvailable"]) if "minAvailable" in sp else "N/A",
                    str(sp["maxUnavailable"]) if "maxUnavailable" in sp else "N/A",
                    p.get("status", {}).get("disruptionsAllowed", 0), age(p)]
    elif res == "namespaces":
        cols = [col("Name", fmt="name"), col("Status"), col("Age")]

        def row(n):
            return [n["metadata"]["name"], n.get("status", {}).get("phase", "Active"), age(n)]
    elif res == "services":
        cols = [col("Name", fmt="name"), col("Type"), col("Cluster-IP"), col("External-IP"), col("Port(s)"),
                col("Age"), col("Selector", priority=1)]

        def row(s):
            sp = s["spec"]
            ports = ",".join(f"{p['port']}/{p.get('protocol', 'TCP')}" for p in sp.get("ports", []))
            sel = ",".join(f"{k}={v}" for k, v in sorted((sp.get("selector") or {}).items())) or "<none>"
            return [s["metadata"]["name"], sp.get("type", "ClusterIP"), sp.get("clusterIP", "None"), "<none>",
                    ports, age(s), sel]
    elif res == "events":
        cols = [col("Last Seen"), col("Type"), col("Reason"), col("Object"), col("Message")]

        def row(e):
            io = e.get("involvedObject", {})
            return ["<unknown>", e.get("type", ""), e.get("reason", ""),
                    f"{io.get('kind', '').lower()}/{io.get('name', '')}", e.get("message", "")]
    else:
        cols = [col("Name", fmt="name"), col("Age")]

        def row(o):
            return [o["metadata"]["name"], age(o)]
    return cols, [row(o) for o in objs]


def partial(o):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}


def make_table(res, objs, include, rv):
    cols, rows = table_for(res, objs)
    out_rows = []
    for o, cells in zip(objs, rows):
        r = {"cells": cells}
        if include == "Object":
            r["object"] = o
        elif include != "None":
            r["object"] = partial(o)
        out_rows.append(r)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(rv)},
            "columnDefinitions": cols, "rows": out_rows}


# ---- HTTP ------------------------------------------------------------------------------------
def discovery_resources(group):
    out = []
    for (g, r), d in sorted(RESOURCES.items()):
        if g != group:
            continue
        verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        e = {"name": r, "singularName": d["kind"].lower(), "namespaced": d["namespaced"], "kind": d["kind"],
             "verbs": verbs, "shortNames": d["short"],
             "storageVersionHash": hashlib.sha256(r.encode()).hexdigest()[:12]}
        if d.get("categories"):
            e["categories"] = d["categories"]
        out.append(e)
        for sub in d["sub"]:
            if sub == "eviction":
                out.append({"name": f"{r}/eviction", "singularName": "", "namespaced": True, "group": "policy",
                            "version": "v1", "kind": "Eviction", "verbs": ["create"]})
            elif sub == "scale":
                out.append({"name": f"{r}/scale", "singularName": "", "namespaced": True, "group": "autoscaling",
                            "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]})
            else:
                out.append({"name": f"{r}/{sub}", "singularName": "", "namespaced": d["namespaced"],
                            "kind": d["kind"], "verbs": ["get", "patch", "update"]})
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rtmig-lab-apiserver"
    store = None
    cfg = None
    etcd = None

    def log_message(self, fmt, *args):
        pass

    def audit(self, code):
        try:
            with open(self.store.log_path, "a") as f:
                f.write(json.dumps({"ts": round(time.time(), 3), "remote": self.client_address[0],
                                    "verb": self.command, "path": self.path, "code": code,
                                    "agent": self.headers.get("User-Agent", "")[:60]}) + "\n")
        except OSError:
            pass

    def send_json(self, code, obj, ctype="application/json"):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.audit(code)

    def send_text(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.audit(code)

    def body(self):
        raw = self._raw
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            ctype = self.headers.get("Content-Type", "")
            if "yaml" in ctype:
                raise APIError(415, "UnsupportedMediaType",
                               f"the lab's API server takes JSON only; got {ctype} (server-side apply is not modelled)")
            raise APIError(400, "BadRequest", "the request body is not valid JSON")

    def do_GET(self):
        self.route()

    def do_HEAD(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_PATCH(self):
        self.route()

    def do_DELETE(self):
        self.route()

    def route(self):
        # read the body of every request (a DELETE carries DeleteOptions) before answering,
        # or the next request on this keep-alive connection starts in the middle of it
        n = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(n) if n else b""
        try:
            self._route()
        except APIError as e:
            self.send_json(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:
            traceback.print_exc()
            self.send_json(500, APIError(500, "InternalError", f"lab apiserver: {type(e).__name__}: {e}").status())

    def _route(self):
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        parts = [urllib.parse.unquote(p) for p in u.path.strip("/").split("/") if p]
        etcd = self.etcd
        if self.command in ("GET", "HEAD"):
            if u.path == "/livez":
                return self.send_text(200, "ok")
            if u.path in ("/healthz", "/readyz"):
                # kube-apiserver's etcd check: a quorum read, "reason withheld" to callers
                if etcd is not None and not etcd.wait_quorum(2.0):
                    what = u.path.strip("/")
                    checks = ["[+]ping ok", "[+]log ok", "[-]etcd failed: reason withheld"]
                    if what == "readyz":
                        checks += ["[+]informer-sync ok", "[+]poststarthook/start-apiextensions-informers ok",
                                   "[+]shutdown ok"]
                    return self.send_text(500, "\n".join(checks) + f"\n{what} check failed\n")
                return self.send_text(200, "ok")
            if u.path == "/lab/v1/etcd-history":
                return self.send_json(200, etcd.history() if etcd is not None else
                                      {"members": [], "events": [], "maxDown": 0, "maxUnhealthy": 0,
                                       "quorumLost": 0, "now": {}})
            if u.path == "/version":
                v = self.cfg["version"]
                minor = v.split(".")[1]
                return self.send_json(200, {"major": "1", "minor": minor, "gitVersion": f"v{v}",
                                            "gitCommit": "lab", "gitTreeState": "clean",
                                            "buildDate": "2023-01-18T15:51:25Z", "goVersion": "go1.19.5",
                                            "compiler": "gc", "platform": "linux/amd64"})
            if u.path == "/api":
                return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                                            "serverAddress": self.headers.get("Host", "")}]})
            if u.path == "/apis":
                groups = []
                for g in GROUPS:
                    gv = {"groupVersion": f"{g}/v1", "version": "v1"}
                    groups.append({"name": g, "versions": [gv], "preferredVersion": gv})
                return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
            if u.path == "/api/v1":
                return self.send_json(200, {"kind": "APIResourceList", "groupVersion": "v1",
                                            "resources": discovery_resources("")})
            if len(parts) == 2 and parts[0] == "apis" and parts[1] in GROUPS:
                gv = {"groupVersion": f"{parts[1]}/v1", "version": "v1"}
                return self.send_json(200, {"kind": "APIGroup", "apiVersion": "v1", "name": parts[1],
                                            "versions": [gv], "preferredVersion": gv})
            if len(parts) == 3 and parts[0] == "apis" and parts[1] in GROUPS and parts[2] == "v1":
                return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                            "groupVersion": f"{parts[1]}/v1",
                                            "resources": discovery_resources(parts[1])})
            if u.path == "/lab/v1/cordon-history":
                lines = []
                if os.path.exists(self.store.history_path):
                    with open(self.store.history_path) as f:
                        lines = [json.loads(x) for x in f if x.strip()]
                return self.send_json(200, {"events": lines,
                                            "maxCordoned": max([len(x["cordoned"]) for x in lines] or [0])})
        # every resource request reads or writes etcd: without quorum it times out
        if etcd is not None and not etcd.wait_quorum(ETCD_WAIT):
            raise APIError(500, "InternalError", "etcdserver: request timed out")
        # resource paths
        if parts[:2] == ["api", "v1"]:
            group, rest = "", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis" and parts[1] in GROUPS and parts[2] == "v1":
            group, rest = parts[1], parts[3:]
        else:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and (group, rest[2]) in RESOURCES:
            ns, rest = rest[1], rest[2:]
        if not rest or (group, rest[0]) not in RESOURCES:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        key = (group, rest[0])
        desc = RESOURCES[key]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if desc["namespaced"] and name is not None and ns is None:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        if not desc["namespaced"]:
            ns = ""
        if sub is not None and sub not in desc["sub"]:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        dry = q.get("dryRun") == "All"
        m = self.command
        st = self.store
        if m in ("GET", "HEAD"):
            if name is None:
                if q.get("watch") in ("1", "true"):
                    return self.watch(key, ns, q)
                return self.list(key, ns, q)
            with st.lock:
                obj = copy.deepcopy(st.get(key, ns, name))
            if sub == "scale":
                obj = self.scale_of(obj)
            return self.respond_obj(key, obj)
        if m == "POST":
            body = self.body() or {}
            if sub == "eviction":
                return self.evict(ns, name, body, dry)
            if name is not None:
                raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            with st.lock:
                obj = st.create(key, ns, body, dry=dry)
            return self.send_json(201, obj)
        if m == "PUT":
            body = self.body() or {}
            with st.lock:
                if sub == "scale":
                    obj = copy.deepcopy(st.get(key, ns, name))
                    obj["spec"]["replicas"] = body.get("spec", {}).get("replicas", obj["spec"].get("replicas"))
                    obj = self.scale_of(st.replace(key, ns, name, obj, dry=dry, check_rv=False))
                else:
                    obj = st.replace(key, ns, name, body, sub, dry=dry)
            return self.send_json(200, obj)
        if m == "PATCH":
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
            patch = self.body()
            with st.lock:
                cur = copy.deepcopy(st.get(key, ns, name))
                base = self.scale_of(cur) if sub == "scale" else cur
                try:
                    if ctype == "application/json-patch+json":
                        new = K.json_patch(base, patch or [])
                    elif ctype == "application/merge-patch+json":
                        new = K.merge_patch(base, patch or {})
                    elif ctype == "application/strategic-merge-patch+json":
                        new = K.strategic_merge(base, patch or {})
                    elif ctype == "application/apply-patch+yaml":
                        raise APIError(415, "UnsupportedMediaType",
                                       "server-side apply is not modelled by the lab's API server")
                    else:
                        raise APIError(415, "UnsupportedMediaType", f"the body of the request was in an unknown "
                                       f"format - accepted media types include: application/json-patch+json, "
                                       f"application/merge-patch+json, application/apply-patch+yaml, "
                                       f"application/strategic-merge-patch+json")
                except K.PatchError as e:
                    raise APIError(422, "Invalid", str(e))
                if sub == "scale":
                    cur["spec"]["replicas"] = new.get("spec", {}).get("replicas", cur["spec"].get("replicas"))
                    obj = self.scale_of(st.replace(key, ns, name, cur, dry=dry, check_rv=False))
                else:
                    if isinstance(new, dict) and isinstance(patch, dict) and "resourceVersion" not in \
                            (patch.get("metadata") or {}):
                        new.setdefault("metadata", {})["resourceVersion"] = cur["metadata"]["resourceVersion"]
                    obj = st.replace(key, ns, name, new, sub, dry=dry)
            return self.send_json(200, obj)
        if m == "DELETE":
            with st.lock:
                obj = st.delete(key, ns, name, dry=dry)
            if key == ("", "pods"):
                obj = copy.deepcopy(obj)
                obj["metadata"]["deletionTimestamp"] = K.rfc3339(time.time())
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                return self.send_json(200, obj)
            return self.send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                        "details": {"name": name, "group": group, "kind": key[1],
                                                    "uid": obj["metadata"]["uid"]}})
        raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def scale_of(self, obj):
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: obj["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                             "creationTimestamp") if k in obj["metadata"]},
                "spec": {"replicas": obj["spec"].get("replicas", 1)},
                "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                           "selector": selector_string(obj["spec"].get("selector")).replace("<none>", "")}}

    def wants_table(self):
        return "as=Table" in self.headers.get("Accept", "")

    def respond_obj(self, key, obj):
        if self.wants_table():
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            return self.send_json(200, make_table(key[1], [obj], q.get("includeObject", "Metadata"),
                                                  obj["metadata"].get("resourceVersion", "")),
                                  "application/json;as=Table;v=v1;g=meta.k8s.io")
        return self.send_json(200, obj)

    def selectors(self, key, q):
        try:
            labels = K.parse_label_selector(q.get("labelSelector", ""))
            fields = K.parse_field_selector(q.get("fieldSelector", ""), FIELDS.get(key[1], DEFAULT_FIELDS))
        except K.SelectorError as e:
            raise APIError(400, "BadRequest", str(e))
        return labels, fields

    def matching(self, key, ns, q):
        labels, fields = self.selectors(key, q)
        out = []
        for (ons, _), o in sorted(self.store.table(key).items()):
            if ns and ons != ns:
                continue
            if K.match_labels(labels, o["metadata"].get("labels")) and K.match_fields(fields, o):
                out.append(o)
        return out

    def list(self, key, ns, q):
        with self.store.lock:
            objs = copy.deepcopy(self.matching(key, ns, q))
            rv = self.store.rv
        if self.wants_table():
            return self.send_json(200, make_table(key[1], objs, q.get("includeObject", "Metadata"), rv),
                                  "application/json;as=Table;v=v1;g=meta.k8s.io")
        kind = RESOURCES[key]["kind"] + "List"
        return self.send_json(200, {"kind": kind, "apiVersion": api_version(key[0]),
                                    "metadata": {"resourceVersion": str(rv)}, "items": objs})

    def watch(self, key, ns, q):
        labels, fields = self.selectors(key, q)
        st = self.store
        table = self.wants_table()
        timeout = min(float(q.get("timeoutSeconds") or 1800), 1800)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        self.send_response(200)
        self.send_header("Content-Type", "application/json;as=Table;v=v1;g=meta.k8s.io" if table
                         else "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.audit(200)

        def chunk(obj):
            data = json.dumps(obj).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def wrap(typ, o):
            if table:
                o = make_table(key[1], [o], q.get("includeObject", "Metadata"), o["metadata"].get("resourceVersion"))
            return {"type": typ, "object": o}

        def ok(o):
            return (not ns or o["metadata"].get("namespace") == ns) and \
                K.match_labels(labels, o["metadata"].get("labels")) and K.match_fields(fields, o)

        rv_param = q.get("resourceVersion", "")
        with st.lock:
            if rv_param in ("", "0"):
                initial = [copy.deepcopy(o) for o in self.matching(key, ns, q)]
                last = st.rv
            else:
                initial = []
                last = int(rv_param)
                if st.events and last < st.events[0][0] - 1:
                    initial = None
        try:
            if initial is None:
                chunk({"type": "ERROR", "object": APIError(410, "Expired", f"too old resource version: {last} "
                                                           f"({st.events[0][0]})").status()})
                self.wfile.write(b"0\r\n\r\n")
                return
            for o in initial:
                chunk(wrap("ADDED", o))
            end = time.time() + timeout
            next_bookmark = time.time() + 10
            while time.time() < end:
                with st.cond:
                    st.cond.wait_for(lambda: st.rv > last, timeout=1.0)
                    start = bisect.bisect_right(st.event_rvs, last)
                    evs = [e for e in st.events[start:] if e[2] == key]
                    cur = st.rv
                for rv, typ, _, o in evs:
                    if ok(o):
                        chunk(wrap(typ, o))
                last = cur
                if bookmarks and time.time() > next_bookmark:
                    kind = RESOURCES[key]["kind"]
                    chunk({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version(key[0]),
                                                          "metadata": {"resourceVersion": str(last)}}})
                    next_bookmark = time.time() + 10
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def evict(self, ns, name, body, dry):
        st = self.store
        with st.lock:
            pod = st.get(("", "pods"), ns, name)
            pdbs = [p for p in st.table(("policy", "poddisruptionbudgets")).values()
                    if p["metadata"]["namespace"] == ns and K.selector_matches(p["spec"].get("selector"),
                                                                               pod["metadata"].get("labels"))]
            if len(pdbs) > 1:
                raise APIError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the "
                               "eviction subresource does not support.")
            if pdbs and K.pod_is_ready(pod) and pod.get("status", {}).get("phase") == "Running":
                _, expected, healthy, desired, allowed = CONTROLLERS.pdb_numbers(pdbs[0])
                if allowed <= 0:
                    pname = pdbs[0]["metadata"]["name"]
                    raise APIError(429, "TooManyRequests",
                                   "Cannot evict pod as it would violate the pod's disruption budget.",
                                   {"causes": [{"reason": "DisruptionBudget",
                                                "message": f"The disruption budget {pname} needs {desired} healthy "
                                                           f"pods and has {healthy} currently"}]})
            st.delete(("", "pods"), ns, name, dry=dry)
        return self.send_json(201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                    "code": 201})


CONTROLLERS = None


def main():
    global CONTROLLERS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--bootstrap")
    ap.add_argument("--log", required=True)
    ap.add_argument("--listen")
    args = ap.parse_args()
    with open(args.config) as f:
        cfg = json.load(f)
    store = Store(cfg, args.state, args.bootstrap, args.log)
    etcd = None
    if cfg.get("etcd_members"):
        etcd = Etcd(cfg["etcd_members"], os.path.join(os.path.dirname(args.state), "etcd-history.jsonl"))
        etcd.start()
    CONTROLLERS = Controllers(store)
    CONTROLLERS.etcd = etcd
    with store.lock:
        CONTROLLERS.run_once()
        store.bootstrapping = False
    store.save()
    threading.Thread(target=CONTROLLERS.loop, daemon=True).start()
    threading.Thread(target=store.saver, daemon=True).start()
    Handler.store, Handler.cfg, Handler.etcd = store, cfg, etcd
    addr = args.listen or cfg["listen"]
    def stop(*_):
        store.dirty = True
        store.save()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv = ThreadingHTTPServer((addr, int(cfg["port"])), Handler)
    srv.daemon_threads = True
    print(f"lab apiserver: listening on http://{addr}:{cfg['port']}", flush=True)
    try:
        srv.serve_forever()
    finally:
        store.save()


if __name__ == "__main__":
    main()
