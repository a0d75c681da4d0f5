"""Kubernetes helpers shared by the API server and kubelet simulators.

Label and field selectors, strategic merge / JSON merge / JSON patch, image reference
normalization, quantities of time as kubectl prints them, and kubectl's pod and node
status strings. No I/O here.

Standard library only: this is a test fixture, not shipped code.
"""
import copy
import datetime
import re


# ---- time -----------------------------------------------------------------------------
def go_duration(seconds):
    """Whole seconds as Go's time.Duration prints them: 10s, 1m20s, 5m0s."""
    m, sec = divmod(int(seconds), 60)
    return f"{m}m{sec}s" if m else f"{sec}s"


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    if not s:
        return None
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def human_duration(seconds):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if seconds < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        return f"{h // (24 * 365)}y{(h // 24) % 365}d"
    return f"{h // (24 * 365)}y"


# ---- images ---------------------------------------------------------------------------
def normalize_image(ref):
    """`nginx` -> `docker.io/library/nginx:latest`: the name containerd and CRI use. A first
    component with a `.` or a `:`, or `localhost`, is a registry; with a digest the digest
    wins (`name:tag@sha256:…` -> `name@sha256:…`, as the kubelet, CRI and Docker resolve it)."""
    ref = ref.strip()
    digest = ""
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        digest = "@" + digest
    name, tag = ref, "latest"
    at = ref.rfind(":")
    if at > ref.rfind("/"):
        name, tag = ref[:at], ref[at + 1:]
    first = name.split("/")[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + name
    if digest:
        return name + digest
    return f"{name}:{tag}"


def image_registry(ref):
    """The registry host of a reference (`docker.io` for Docker Hub names)."""
    return normalize_image(ref).split("/")[0]


def image_has_tag(ref):
    ref = ref.split("@", 1)[0]
    return ref.rfind(":") > ref.rfind("/")


# ---- selectors ------------------------------------------------------------------------
class SelectorError(ValueError):
    pass


def parse_label_selector(text):
    """Parse `a=b,c!=d,e in (x,y),f notin (z),g,!h` into a list of requirements."""
    reqs = []
    if not text:
        return reqs
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for p in parts:
        p = p.strip()
        if not p:
            continue
        m = re.fullmatch(r"([^\s!=]+)\s+(in|notin)\s+\((.*)\)", p)
        if m:
            vals = [v.strip() for v in m.group(3).split(",") if v.strip()]
            reqs.append((m.group(1), m.group(2), vals))
            continue
        m = re.fullmatch(r"([^\s!=]+)\s*(==|=|!=)\s*(\S*)", p)
        if m:
            reqs.append((m.group(1), "!=" if m.group(2) == "!=" else "=", [m.group(3)]))
            continue
        if p.startswith("!"):
            reqs.append((p[1:].strip(), "!exists", []))
            continue
        if re.fullmatch(r"[^\s!=(),]+", p):
            reqs.append((p, "exists", []))
            continue
        raise SelectorError(f"unable to parse requirement: {p}")
    return reqs


def match_labels(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "=" and (not has or v != vals[0]):
            return False
        if op == "!=" and has and v == vals[0]:
            return False
        if op == "in" and (not has or v not in vals):
            return False
        if op == "notin" and has and v in vals:
            return False
        if op == "exists" and not has:
            return False
        if op == "!exists" and has:
            return False
    return True


def selector_matches(selector, labels):
    """A LabelSelector object (matchLabels + matchExpressions) against labels."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def parse_field_selector(text, allowed):
    reqs = []
    if not text:
        return reqs
    for p in text.split(","):
        p = p.strip()
        if not p:
            continue
        m = re.fullmatch(r"([^!=]+?)\s*(==|=|!=)\s*(.*)", p)
        if not m:
            raise SelectorError(f"invalid selector: '{p}'; can't understand '{p}'")
        key = m.group(1)
        if key not in allowed:
            raise SelectorError(f'field label not supported: {key}')
        reqs.append((key, "!=" if m.group(2) == "!=" else "=", m.group(3)))
    return reqs


def field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def match_fields(reqs, obj):
    for key, op, val in reqs:
        v = field_value(obj, key)
        if op == "=" and v != val:
            return False
        if op == "!=" and v == val:
            return False
    return True


# ---- patches --------------------------------------------------------------------------
def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# Merge keys from the Kubernetes API's patchMergeKey tags, by field name.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "env": "name", "ports": "containerPort", "imagePullSecrets": "name",
    "taints": "key", "conditions": "type", "addresses": "type", "ownerReferences": "uid",
    "hostAliases": "ip", "topologySpreadConstraints": "topologyKey", "containerStatuses": "name",
    "initContainerStatuses": "name", "readinessGates": "conditionType",
}


def strategic_merge(target, patch, field=None):
    """Strategic merge patch, for the fields the lab's objects have."""
    if isinstance(patch, dict):
        if patch.get("$patch") == "replace":
            p = {k: v for k, v in patch.items() if k != "$patch"}
            return copy.deepcopy(p)
        if patch.get("$patch") == "delete":
            return None
        if not isinstance(target, dict):
            target = {}
        out = dict(target)
        for k, v in patch.items():
            if k.startswith("$setElementOrder/") or k.startswith("$retainKeys") or k == "$patch":
                continue
            if k.startswith("$deleteFromPrimitiveList/"):
                name = k.split("/", 1)[1]
                out[name] = [x for x in out.get(name, []) if x not in (v or [])]
                continue
            if v is None:
                out.pop(k, None)
                continue
            merged = strategic_merge(out.get(k), v, k)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        return out
    if isinstance(patch, list) and field in MERGE_KEYS and all(isinstance(x, dict) for x in patch):
        key = MERGE_KEYS[field]
        if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
            return [copy.deepcopy(x) for x in patch if x.get("$patch") != "replace"]
        out = [copy.deepcopy(x) for x in (target if isinstance(target, list) else [])]
        for item in patch:
            idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item.get(key)), None)
            if item.get("$patch") == "delete":
                if idx is not None:
                    out.pop(idx)
                continue
            if idx is None:
                out.append({k: v for k, v in item.items() if k != "$patch"})
            else:
                out[idx] = strategic_merge(out[idx], item)
        return out
    return copy.deepcopy(patch)


class PatchError(ValueError):
    pass


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer `{path}`")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, ops):
    """RFC 6902 JSON patch."""
    doc = copy.deepcopy(doc)

    def parent(parts):
        cur = doc
        for p in parts[:-1]:
            if isinstance(cur, list):
                cur = cur[int(p)]
            elif isinstance(cur, dict) and p in cur:
                cur = cur[p]
            else:
                raise PatchError(f"path `/{'/'.join(parts)}` does not exist")
        return cur

    def get(parts):
        cur = doc
        for p in parts:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    for op in ops:
        kind, parts = op.get("op"), _pointer(op.get("path", ""))
        try:
            if kind in ("add", "replace"):
                par, last = parent(parts), parts[-1]
                if isinstance(par, list):
                    if last == "-":
                        par.append(op["value"])
                    elif kind == "add":
                        par.insert(int(last), op["value"])
                    else:
                        par[int(last)] = op["value"]
                else:
                    if kind == "replace" and last not in par:
                        raise PatchError(f"replace operation does not apply: doc is missing key: {op['path']}")
                    par[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                par, last = parent(parts), parts[-1]
                if isinstance(par, list):
                    par.pop(int(last))
                else:
                    if last not in par:
                        raise PatchError(f"remove operation does not apply: doc is missing path: {op['path']}")
                    del par[last]
            elif kind == "test":
                if get(parts) != op.get("value"):
                    raise PatchError(f"testing value {op['path']} failed")
            elif kind in ("move", "copy"):
                src = _pointer(op["from"])
                val = copy.deepcopy(get(src))
                if kind == "move":
                    sp = parent(src)
                    if isinstance(sp, list):
                        sp.pop(int(src[-1]))
                    else:
                        del sp[src[-1]]
                par, last = parent(parts), parts[-1]
                if isinstance(par, list):
                    par.insert(len(par) if last == "-" else int(last), val)
                else:
                    par[last] = val
            else:
                raise PatchError(f"unexpected operation `{kind}`")
        except (KeyError, IndexError, ValueError, TypeError) as e:
            if isinstance(e, PatchError):
                raise
            raise PatchError(f"{kind} operation does not apply: {op.get('path')}")
    return doc


# ---- kubectl's printing rules ---------------------------------------------------------
def pod_status_string(pod):
    """The STATUS column of `kubectl get pods` (printPod in kubectl's printers)."""
    st = pod.get("status", {})
    reason = st.get("reason") or st.get("phase") or "Unknown"
    for cs in st.get("containerStatuses", []) or []:
        state = cs.get("state", {})
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            reason = state["terminated"].get("reason") or "Terminated"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def pod_ready_string(pod):
    cs = pod.get("status", {}).get("containerStatuses", []) or []
    total = len(pod.get("spec", {}).get("containers", []))
    ready = sum(1 for c in cs if c.get("ready"))
    return f"{ready}/{total}"


def pod_is_ready(pod):
    for c in pod.get("status", {}).get("conditions", []) or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def node_ready_status(node):
    for c in node.get("status", {}).get("conditions", []) or []:
        if c.get("type") == "Ready":
            return c.get("status")
    return "Unknown"


def node_status_string(node):
    st = node_ready_status(node)
    s = {"True": "Ready", "False": "NotReady"}.get(st, "Unknown" if st == "Unknown" else "NotReady")
    if st == "Unknown":
        s = "NotReady"
    if node.get("spec", {}).get("unschedulable"):
        s += ",SchedulingDisabled"
    return s


def node_roles(node):
    roles = []
    for k, v in (node.get("metadata", {}).get("labels") or {}).items():
        if k.startswith("node-role.kubernetes.io/"):
            roles.append(k.split("/", 1)[1])
        elif k == "kubernetes.io/role":
            roles.append(v)
    return ",".join(sorted(set(roles))) or "<none>"


def tolerates(tolerations, taint):
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        op = t.get("operator", "Equal")
        if op == "Exists":
            if not t.get("key") or t.get("key") == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False
