#!/usr/bin/python3
"""What `kubeadm upgrade node` does to a node's /var/lib/kubelet/kubeadm-flags.env, by the
kubeadm version that runs it (used by `lab.sh upgrade-kubelet HOST VERSION --kubeadm`).

kubeadm upgrades one minor version at a time; `kubeadm_upgrade.py FILE FROM TO` applies the
rewrites of every kubeadm minor after FROM up to TO, as consecutive upgrades would:

- 1.24 and 1.25: `--container-runtime-endpoint` without a URL scheme gets `unix://`
  (kubeadm's UpdateKubeletDynamicEnvFileWithURLScheme).
- 1.26: `--container-runtime` (and its value) is removed (kubeadm's
  CleanupKubeletDynamicEnvFileContainerRuntime, kubernetes/kubernetes#112000; the
  workaround was dropped again in 1.27 by #114409, kubeadm/issues/2626).

Nothing else: in particular kubeadm never removes the dockershim flags
(`--network-plugin`, `--cni-bin-dir`, ...), so a node that still has them fails at 1.24
with `unknown flag: --network-plugin` after a kubeadm upgrade too (kubernetes/website#36896,
kubermatic/kubeone#2024). Flags in other files (/etc/default/kubelet, /etc/sysconfig/kubelet,
drop-ins) are never touched by kubeadm.

Standard library only: this is a test fixture, not shipped code.
"""
import re
import sys

VAR = "KUBELET_KUBEADM_ARGS"


def split_args(text):
    m = re.match(rf'^\s*{VAR}="(.*)"\s*$', text, re.S)
    return (m.group(1).split(), True) if m else (None, False)


def with_url_scheme(args):
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if a.startswith("--container-runtime-endpoint="):
            v = a.split("=", 1)[1]
            if v and "://" not in v:
                a = f"--container-runtime-endpoint=unix://{v}"
        elif a == "--container-runtime-endpoint" and i + 1 < len(args) and "://" not in args[i + 1]:
            out += [a, f"unix://{args[i + 1]}"]
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def without_container_runtime(args):
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if a == "--container-runtime" or a.startswith("--container-runtime="):
            # `--container-runtime remote`: the value goes too, unless it is another flag
            i += 2 if a == "--container-runtime" and i + 1 < len(args) and not args[i + 1].startswith("-") else 1
            continue
        out.append(a)
        i += 1
    return out


def upgrade(text, from_minor, to_minor):
    args, ok = split_args(text)
    if not ok:
        return text
    for minor in range(from_minor + 1, to_minor + 1):
        if minor in (24, 25):
            args = with_url_scheme(args)
        if minor == 26:
            args = without_container_runtime(args)
    return f'{VAR}="{" ".join(args)}"\n'


def main(argv):
    if len(argv) != 3:
        print("usage: kubeadm_upgrade.py FILE FROM_MINOR TO_MINOR", file=sys.stderr)
        return 2
    path, a, b = argv[0], int(argv[1]), int(argv[2])
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return 0  # kubeadm skips a node without the file (flags elsewhere)
    new = upgrade(text, a, b)
    if new != text:
        with open(path, "w") as f:
            f.write(new)
        print(f"[upgrade] rewrote {path}: {new.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
