#!/usr/bin/env bash
# lab/tests/run.sh: the lab's end-to-end tests.
#
# Brings the default lab up once, checks what it promises (hosts reachable over real SSH,
# every node Ready on docker://, each rule of the simulators firing, a correct manual
# migration of one worker ending Ready on containerd://), takes it down and checks that
# nothing is left. Needs root. Prints `N passed, N failed` last; exits 1 on any failure.
# Environment: LAB_TEST_KEEP=1 leaves the lab up at the end (for debugging).
# no pipefail: `cmd | grep -q` must not fail when grep stops reading early
set -u

cd "$(dirname "$0")/../.."
LAB=$PWD/lab/lab.sh
export LAB_STATE=${LAB_STATE:-$("$LAB" state-dir)}
S=$LAB_STATE
LOG=$(mktemp -d /tmp/rtmig-lab-test.XXXXXX)
passed=0 failed=0 n=0

if [ "$(id -u)" -ne 0 ]; then
    echo "lab/tests/run.sh: the lab creates network namespaces, mounts and daemons; run as root" >&2
    exit 1
fi

check() { # check NAME FUNCTION: run FUNCTION, report ok/not ok with its output on failure
    local name=$1 fn=$2
    n=$((n + 1))
    if "$fn" >"$LOG/$n.log" 2>&1; then
        passed=$((passed + 1))
        echo "ok $n - $name"
    else
        failed=$((failed + 1))
        echo "not ok $n - $name"
        sed 's/^/    # /' "$LOG/$n.log" | tail -40
    fi
}

k() { "$LAB" kubectl "$@"; }
on() { local h=$1; shift; "$LAB" exec "$h" "$@"; }
lab_ssh() {
    local h=$1 ip
    shift
    ip=$(grep -A1 "^        $h:" "$S/inventory.yaml" | awk '/ansible_host/ {print $2}')
    ssh -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$S/ssh/known_hosts" \
        -i "$S/ssh/id_ed25519" "root@$ip" "$@"
}
expect() { # expect DESCRIPTION COMMAND...: the command must succeed
    if ! "$@"; then echo "expected: $1 ... (command failed: $*)"; return 1; fi
}
ready_msg() { k get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}'; }
wait_until() { # wait_until SECONDS CMD...
    local end=$(( $(date +%s) + $1 ))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.5
    done
}
node_is() { # node_is NODE READY-STATUS RUNTIME-PREFIX
    local got
    got=$(k get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.nodeInfo.containerRuntimeVersion}')
    [[ "$got" == "$2 $3"* ]]
}
flags_remote() { # point a node's kubelet at containerd (1.23 flags)
    on "$1" /bin/sh -c 'echo "KUBELET_KUBEADM_ARGS=\"--container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.6\"" > /var/lib/kubelet/kubeadm-flags.env'
}

t_spec_errors_name_their_key() {
    # Every spec error is one line on stderr naming the key; no Python traceback.
    local d err
    d=$(mktemp -d)
    spec_error() { # spec_error EXPECTED-SUBSTRING JSON
        printf '%s' "$2" >"$d/spec.json"
        if "$LAB" up --spec "$d/spec.json" >"$d/out" 2>"$d/err"; then echo "accepted: $2"; return 1; fi
        err=$(grep -Ev '^lab: (a previous lab|down:)' "$d/err")
        echo "$err"
        [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && ! grep -q Traceback "$d/err" && [[ "$err" == *"$1"* ]]
    }
    spec_error 'workloads[0].spec.template.spec.containers[0].image` is missing' \
        '{"workloads": [{"kind": "Deployment", "metadata": {"name": "x"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": [{"name": "c"}]}}}}]}' || return 1
    spec_error '`workloads[1].metadata.name`: namespace `tke` is named twice' \
        '{"workloads": [{"kind": "Namespace", "metadata": {"name": "tke"}}, {"kind": "Namespace", "metadata": {"name": "tke"}}]}' || return 1
    spec_error '`workloads[0].spec.template.spec` pins the pod to `nosuch`' \
        '{"workloads": [{"kind": "Deployment", "metadata": {"name": "x"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"nodeSelector": {"kubernetes.io/hostname": "nosuch"}, "containers": [{"name": "c", "image": "i"}]}}}}]}' || return 1
    spec_error '`workloads[0].metadata.labels.app` must be a string' \
        '{"workloads": [{"kind": "Pod", "metadata": {"name": "p", "labels": {"app": 1}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}]}' || return 1
    spec_error '`images.size_mb.x:1` must be a whole number of MiB from 0 to 4096, got -1' '{"images": {"size_mb": {"x:1": -1}}}' || return 1
    spec_error 'spec.json:1:2:' '{x' || return 1
    rm -rf "$d"
}

t_up_tkestack() {
    # A spec naming a Namespace the lab also creates for its workloads (`tke`) comes up,
    # with the namespace once, as the spec wrote it; tke-registry-api runs on master1 and
    # the inventory does not name the registry node.
    "$LAB" up --spec lab/specs/tkestack.json >/dev/null || return 1
    k get namespace tke -o jsonpath='{.metadata.labels.kubernetes\.io/metadata\.name}' | grep -qx tke || return 1
    [ "$(k get namespaces -o name | grep -c '^namespace/tke$')" -eq 1 ] || return 1
    wait_until 60 sh -c "\"$LAB\" kubectl get pods -n tke -o wide | grep '^tke-registry-api-.* Running .* master1 '" || { k get pods -n tke -o wide; return 1; }
    ! grep -q registry_node "$S/inventory.yaml"
}

# ---------------------------------------------------------------------------------------------
t_up() {
    local t0 t1 out
    t0=$(date +%s)
    out=$("$LAB" up --spec lab/specs/default.json) || return 1
    t1=$(date +%s)
    echo "up took $((t1 - t0)) s" >"$LOG/up-time"
    # the inventory path is the last line on stdout, and it is the inventory
    [ "$(echo "$out" | tail -1)" = "$S/inventory.yaml" ] || { echo "last line: $(echo "$out" | tail -1)"; return 1; }
    [ -f "$S/inventory.yaml" ]
}

t_inventory() {
    local inv=$S/inventory.yaml
    grep -q '^    masters:' "$inv" && grep -q '^    workers:' "$inv" || return 1
    local net  # 10.213.0 (or the LAB_NET_ID lab's subnet)
    net=$(sed -n 's/^LAB_GW=\(.*\)\.[0-9]*$/\1/p' "$S/lab.env")
    [ "$(grep -c "ansible_host: ${net//./\\.}\." "$inv")" -eq 6 ] || return 1
    grep -q "ansible_ssh_private_key_file: $S/ssh/id_ed25519" "$inv" || return 1
    grep -q 'ansible_user: root' "$inv" && grep -q 'registry_node: master0' "$inv" &&
        grep -q "kubeconfig: $S/kubeconfig" "$inv" && grep -q 'kubernetes_version: "1.23.17"' "$inv"
}

t_nodes_ready_docker() {
    local out
    out=$(k get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.status.nodeInfo.containerRuntimeVersion}{"\n"}{end}')
    echo "$out"
    [ "$(echo "$out" | grep -c ' True docker://20\.10\.')" -eq 6 ] || return 1
    # kubectl's own table: the server sends Table rows, kubectl prints them
    k get nodes -o wide >"$LOG/wide.out" || return 1
    cat "$LOG/wide.out"
    grep -q 'CONTAINER-RUNTIME' "$LOG/wide.out" || return 1
    [ "$(k get nodes -o wide | grep -c ' Ready .*docker://20\.10')" -eq 6 ]
}

t_pods_running() {
    local notrunning
    notrunning=$(k get pods -A --no-headers | awk '$4 != "Running"')
    [ -z "$notrunning" ] || { echo "$notrunning"; return 1; }
    # a pod mounting the Docker socket and a daemonset named for its CNI are part of the default spec
    k get ds -n logging log-agent -o jsonpath='{.spec.template.spec.volumes[0].hostPath.path}' | grep -qx /var/run/docker.sock
}

t_ssh_every_host() {
    local h name
    for h in master0 master1 master2 worker0 worker1 worker2; do
        name=$(lab_ssh "$h" hostname) || { echo "ssh to $h failed"; return 1; }
        [ "$name" = "$h" ] || { echo "$h says it is $name"; return 1; }
    done
}

t_ssh_refuses_unknown_host_key() {
    local ip empty
    ip=$(grep -A1 '^        worker0:' "$S/inventory.yaml" | awk '/ansible_host/ {print $2}')
    empty=$(mktemp)
    if ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$empty" -i "$S/ssh/id_ed25519" \
        "root@$ip" true 2>"$LOG/hk.err"; then
        rm -f "$empty"; echo "an unknown host key was accepted"; return 1
    fi
    rm -f "$empty"
    grep -q 'Host key verification failed' "$LOG/hk.err"
}

t_clean_home() {
    # root's home on a host is the host's own: no pyenv .bashrc, only .ssh
    [ -z "$(lab_ssh worker0 'ls -A /root | grep -v -x -e .ssh -e .kube')" ] || return 1
    [ "$(lab_ssh master0 'test -f /root/.kube/config && kubectl get nodes --no-headers | wc -l')" = 6 ]
}

t_sysctls() {
    [ "$(on worker1 cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || return 1
    [ "$(on worker1 cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo 1)" = 1 ]
}

t_images_in_docker_only() {
    local h
    for h in master0 worker0; do
        on "$h" docker images --format '{{.Repository}}:{{.Tag}}' | grep -qx 'registry.k8s.io/pause:3.6' || return 1
        [ -z "$(on "$h" ctr -n k8s.io images ls -q)" ] || { echo "$h: containerd already has images"; return 1; }
    done
    on master0 docker images --format '{{.Repository}}:{{.Tag}}' | grep -qx 'registry.k8s.io/kube-apiserver:v1.23.17' || return 1
    on master0 docker images --format '{{.Repository}}:{{.Tag}}' | grep -qx 'registry:2.8.1' || return 1
    ! on worker0 docker images --format '{{.Repository}}:{{.Tag}}' | grep -q 'kube-apiserver' || return 1
    # distinct images have distinct ids
    [ "$(on master0 docker images -q | sort -u | wc -l)" -ge 10 ]
}

t_containerd_starting_config() {
    on worker0 grep -qx 'disabled_plugins = \["cri"\]' /etc/containerd/config.toml || return 1
    ! on worker0 ctr plugins ls | grep -q 'io.containerd.grpc.v1 *cri' || return 1
    # docker uses that containerd, the way docker-ce uses containerd.io
    on worker0 docker info --format '{{.ContainerdCommit.ID}}' | grep -q .
}

t_systemctl() {
    on worker2 systemctl is-active containerd docker kubelet | tr '\n' ' ' | grep -qx 'active active active ' || return 1
    on worker2 systemctl disable docker 2>&1 | grep -q 'Removed' || return 1
    [ "$(on worker2 systemctl is-enabled docker)" = disabled ] || return 1
    ! on worker2 test -e /etc/systemd/system/multi-user.target.wants/docker.service || return 1
    on worker2 systemctl enable docker 2>&1 | grep -q 'Created symlink' || return 1
    [ "$(on worker2 systemctl is-enabled docker)" = enabled ] || return 1
    # enable state lives on the host's disk, under the lab's state dir
    [ -L "$S/hosts/worker2/etc/systemd/system/multi-user.target.wants/docker.service" ] || return 1
    on worker2 systemctl status kubelet | grep -q 'Active: active (running)' || return 1
    on worker2 systemctl status nosuch; [ $? -eq 4 ] || return 1
    on worker2 systemctl is-active nosuch; [ $? -eq 3 ] || return 1
    # a changed drop-in needs daemon-reload, as with systemd
    on worker2 /bin/sh -c 'echo "# touched" >> /etc/systemd/system/kubelet.service.d/10-kubeadm.conf'
    on worker2 systemctl restart kubelet 2>&1 | grep -q "Run 'systemctl daemon-reload'" || return 1
    on worker2 systemctl daemon-reload
    ! on worker2 systemctl restart kubelet 2>&1 | grep -q "daemon-reload"
}

t_socket_activation() {
    # the kubelet (dockershim) would itself wake docker up through the socket: stop it first
    on worker2 systemctl stop kubelet
    on worker2 systemctl stop docker 2>&1 | grep -q 'can still be activated by' || return 1
    [ "$(on worker2 systemctl is-active docker)" = inactive ] || return 1
    on worker2 docker ps >/dev/null || return 1   # docker.socket starts docker again
    [ "$(on worker2 systemctl is-active docker)" = active ] || return 1
    on worker2 systemctl start kubelet
}

t_drain_blocked_by_pdb() {
    cat >"$LOG/critical.json" <<'EOF'
{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "critical", "namespace": "default"},
  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "critical"}},
   "template": {"metadata": {"labels": {"app": "critical"}},
    "spec": {"nodeSelector": {"kubernetes.io/hostname": "worker2"},
             "containers": [{"name": "c", "image": "lab.local/app/web:1.0"}]}}}},
 {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "critical", "namespace": "default"},
  "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "critical"}}}}]}
EOF
    k create --validate=false -f "$LOG/critical.json" || return 1
    wait_until 20 bash -c "$LAB kubectl get pods -l app=critical --no-headers | grep -q Running" || return 1
    local rc
    k drain worker2 --ignore-daemonsets --delete-emptydir-data --timeout=12s >"$LOG/drain.out" 2>&1
    rc=$?
    cat "$LOG/drain.out"
    [ $rc -ne 0 ] || { echo "drain succeeded"; return 1; }
    grep -q "Cannot evict pod as it would violate the pod's disruption budget" "$LOG/drain.out" || return 1
    grep -q 'global timeout reached: 12s' "$LOG/drain.out" || return 1
    grep -q 'pods/"critical-' "$LOG/drain.out" || return 1
    k get pods -l app=critical -o wide --no-headers | grep -q 'Running.*worker2' || return 1
    k uncordon worker2 && k delete pdb critical && k delete deployment critical
}

t_cri_disabled_not_ready() {
    # the kubelet pointed at containerd while the CRI plugin is still disabled: it cannot start
    flags_remote worker1
    on worker1 systemctl restart kubelet
    wait_until 15 bash -c "$LAB kubectl get node worker1 -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx False" || return 1
    ready_msg worker1 | tee /dev/stderr | grep -q 'unknown service runtime.v1alpha2.RuntimeService' || return 1
    [ "$(on worker1 systemctl is-active kubelet)" != active ] || return 1
    on worker1 journalctl -u kubelet | grep -q 'unable to determine runtime API version'
}

t_cgroup_mismatch_not_ready() {
    # CRI on, but containerd's default SystemdCgroup = false against the kubelet's systemd driver
    on worker1 /bin/sh -c 'containerd config default > /etc/containerd/config.toml'
    on worker1 systemctl restart containerd || return 1
    on worker1 systemctl restart kubelet
    wait_until 20 bash -c "$LAB kubectl get node worker1 -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].message}' | grep -q 'cgroup driver mismatch'" || { ready_msg worker1; return 1; }
    [ "$(on worker1 systemctl is-active kubelet)" = active ] || return 1
    node_is worker1 False containerd://
}

t_missing_sandbox_not_ready() {
    on worker1 sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
    on worker1 systemctl restart containerd || return 1
    wait_until 20 bash -c "$LAB kubectl get node worker1 -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].message}' | grep -q 'failed to get sandbox image \"registry.k8s.io/pause:3.6\"'" || { ready_msg worker1; return 1; }
}

pods_on() { k get pods -A --no-headers -o wide --field-selector spec.nodeName="$1"; }

t_cni_config_missing_not_ready() {
    # dockershim with --network-plugin=cni and no network config in --cni-conf-dir
    on worker2 mv /etc/cni/net.d/10-lab.conflist /root/ || return 1
    wait_until 20 bash -c "$LAB kubectl get node worker2 -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].message}' | grep -q 'NetworkPluginNotReady message:docker: network plugin is not ready: cni config uninitialized'" || { ready_msg worker2; return 1; }
    # and back: Ready again
    on worker2 mv /root/10-lab.conflist /etc/cni/net.d/ || return 1
    wait_until 20 node_is worker2 True docker:// || { ready_msg worker2; return 1; }
}

t_cni_plugin_missing_pods_wait() {
    # containerd (worker0, migrated by hand above) whose CNI plugin dir lacks `bridge`
    on worker0 mv /opt/cni/bin/bridge /root/ || return 1
    wait_until 20 bash -c "$LAB kubectl get pods -A --field-selector spec.nodeName=worker0 -o jsonpath='{.items[*].status.containerStatuses[*].state.waiting.message}' | grep -q 'plugin type=\"bridge\" name=\"lab\" failed (add): failed to find plugin \"bridge\" in path \[/opt/cni/bin\]'" || { pods_on worker0; return 1; }
    pods_on worker0 | grep -q ContainerCreating || return 1
    on worker0 mv /root/bridge /opt/cni/bin/ || return 1
    wait_until 20 bash -c "! $LAB kubectl get pods -A --no-headers --field-selector spec.nodeName=worker0 | grep -v Running | grep -q ." || { pods_on worker0; return 1; }
}

t_image_not_carried_does_not_run() {
    # only the sandbox image carried over: the node is Ready, its pods are not
    on worker1 /bin/sh -c 'docker save registry.k8s.io/pause:3.6 | ctr -n k8s.io images import -' >/dev/null || return 1
    wait_until 20 node_is worker1 True containerd:// || { ready_msg worker1; return 1; }
    wait_until 20 bash -c "$LAB kubectl get pods -n kube-system -o wide --no-headers --field-selector spec.nodeName=worker1 | grep kube-proxy | grep -q ImagePullBackOff" || return 1
    k get pods -A -o wide --field-selector spec.nodeName=worker1
    [ -z "$(k get pods -A --no-headers --field-selector spec.nodeName=worker1 | awk '$4 == "Running"')" ]
}

t_manual_migration() {
    # what playbooks/migrate.yaml does to a worker, by hand
    k drain worker0 --ignore-daemonsets --delete-emptydir-data --timeout=60s || return 1
    lab_ssh worker0 'set -e
        docker save $(docker images --format "{{.Repository}}:{{.Tag}}") | ctr -n k8s.io images import - >/dev/null
        systemctl stop kubelet
        systemctl disable --now docker.socket docker.service 2>/dev/null
        containerd config default | sed -e "s/SystemdCgroup = false/SystemdCgroup = true/" > /etc/containerd/config.toml
        systemctl restart containerd
        ctr plugins ls | grep -q "io.containerd.grpc.v1 *cri .*ok"
        echo "KUBELET_KUBEADM_ARGS=\"--container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.6\"" > /var/lib/kubelet/kubeadm-flags.env
        systemctl start kubelet' || return 1
    wait_until 20 node_is worker0 True containerd://1.6 || { ready_msg worker0; return 1; }
    # crictl (the lab's stand-in) sees the CRI as the kubelet does
    on worker0 /bin/sh -c 'echo "runtime-endpoint: unix:///run/containerd/containerd.sock" > /etc/crictl.yaml'
    on worker0 crictl info | grep -q '"SystemdCgroup": true' || return 1
    on worker0 crictl images | grep -q 'lab.local/app/web' || return 1
    k annotate node worker0 --overwrite kubeadm.alpha.kubernetes.io/cri-socket=unix:///run/containerd/containerd.sock || return 1
    k uncordon worker0 || return 1
    wait_until 20 bash -c "[ -z \"\$($LAB kubectl get pods -A --no-headers --field-selector spec.nodeName=worker0 | awk '\$4 != \"Running\"')\" ]" || return 1
    k get pods -A -o wide --field-selector spec.nodeName=worker0
    [ "$(on worker0 systemctl is-enabled docker)" = disabled ] || return 1
    on worker0 ctr -n k8s.io images ls -q | grep -qx 'lab.local/app/web:1.0'
}

t_crash_loop_on_containerd() {
    # the same crash-on-containerd pod on worker0 (containerd since t_manual_migration) and
    # on worker2 (Docker): it crash-loops on the first only, as kubectl shows it
    local h
    for h in worker0 worker2; do
        cat >"$LOG/crash-$h.json" <<EOF
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "needs-docker-$h", "namespace": "default", "annotations": {"lab.rtmig.io/crash-on": "containerd"}},
 "spec": {"nodeSelector": {"kubernetes.io/hostname": "$h"}, "containers": [{"name": "agent", "image": "lab.local/app/web:1.0"}]}}
EOF
        k create --validate=false -f "$LOG/crash-$h.json" || return 1
    done
    wait_until 30 bash -c "$LAB kubectl get pod needs-docker-worker0 --no-headers | grep -q '0/1 *CrashLoopBackOff *[2-9]'" || { k get pods -o wide; return 1; }
    k get pods needs-docker-worker0 needs-docker-worker2 -o wide
    [ "$(k get pod needs-docker-worker0 -o jsonpath='{.status.phase} {.status.conditions[?(@.type=="Ready")].status} {.status.containerStatuses[0].lastState.terminated.exitCode}')" = "Running False 1" ] || return 1
    k get pod needs-docker-worker0 -o jsonpath='{.status.containerStatuses[0].state.waiting.message}' | grep -q 'back-off [0-9ms]* restarting failed container=agent pod=needs-docker-worker0_default(' || return 1
    k get pod needs-docker-worker2 --no-headers | grep -q '1/1 *Running *0' || return 1
    [ "$(k get pod needs-docker-worker2 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ] || return 1
    k delete pod needs-docker-worker0 needs-docker-worker2 >/dev/null
}

t_upgrade_kubelet_with_dockershim_flags_fails() {
    # worker2 still has kubeadm's 1.23 --network-plugin=cni: its 1.24 kubelet exits, with or
    # without kubeadm's flag rewrites (kubeadm never removes that flag)
    "$LAB" upgrade-kubelet worker2 1.24 --kubeadm || return 1
    wait_until 15 bash -c "$LAB exec worker2 journalctl -u kubelet | grep -q 'unknown flag: --network-plugin'" || return 1
    [ "$(on worker2 systemctl is-active kubelet)" != active ] || return 1
    on worker2 grep -q -- '--network-plugin=cni' /var/lib/kubelet/kubeadm-flags.env || return 1
    on worker2 kubelet --version | grep -qx 'Kubernetes v1.24.17' || return 1
    "$LAB" upgrade-kubelet worker2 1.23 || return 1
    wait_until 20 bash -c "$LAB kubectl get node worker2 -o jsonpath='{.status.nodeInfo.kubeletVersion}' | grep -qx v1.23.17"
}

t_upgrade_kubelet_migrated_node_ready() {
    # worker0, migrated by hand without dockershim flags: Ready at 1.24, then at 1.27 once
    # kubeadm's 1.26 upgrade dropped --container-runtime from kubeadm-flags.env
    "$LAB" upgrade-kubelet worker0 1.24 || return 1
    wait_until 20 bash -c "$LAB kubectl get node worker0 -o jsonpath='{.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx 'v1.24.17 True'" || { ready_msg worker0; return 1; }
    on worker0 grep -q -- '--container-runtime=remote' /var/lib/kubelet/kubeadm-flags.env || return 1
    "$LAB" upgrade-kubelet worker0 1.27 --kubeadm 2>&1 | grep -q 'rewrote /var/lib/kubelet/kubeadm-flags.env' || return 1
    ! on worker0 grep -q -- '--container-runtime=' /var/lib/kubelet/kubeadm-flags.env || return 1
    wait_until 20 bash -c "$LAB kubectl get node worker0 -o jsonpath='{.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx 'v1.27.16 True'" || { ready_msg worker0; return 1; }
    node_is worker0 True containerd:// || return 1
    "$LAB" upgrade-kubelet worker0 1.30 2>&1 | grep -q 'the lab models 1.17 to 1.28'
}

# ---- a third shape: air-gapped, with a private registry registry:5000 (specs/airgap-registry.json) ----
registry_ip() { grep -A1 '^        master0:' "$S/inventory.yaml" | awk '/ansible_host/ {print $2}'; }
registry_answers() { timeout 1 bash -c "exec 3<>/dev/tcp/$(registry_ip)/5000" 2>/dev/null; }
pinned_digest() { awk '$1 == "registry:5000/team/app:1.0" {print $2}' "$S/registry/digests.txt"; }
waiting_msg() { k get pod "$1" -o jsonpath='{.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].state.waiting.message}'; }

t_up_registry() {
    "$LAB" up --spec lab/specs/airgap-registry.json >/dev/null || return 1
    # the real registry, under the name /etc/hosts gives it, holds what `up` pushed
    on worker0 python3 -c 'import urllib.request; print(urllib.request.urlopen("http://registry:5000/v2/_catalog").read().decode())' |
        tee /dev/stderr | grep -q '"team/app"' || return 1
    on master0 pgrep -f 'docker-registry serve' >/dev/null
}

t_registry_digests() {
    local d
    d=$(pinned_digest)
    [[ "$d" == sha256:* ]] || { echo "no digest: $d"; return 1; }
    # pulled through the registry: Docker records the digest the registry gave...
    on worker0 docker images --digests | awk '$1 == "registry:5000/team/app" {print $2, $3}' | grep -qx "1.0 $d" || return 1
    # ... worker1 pulled it by digest only (untagged), and the pinned pods run on Docker
    on worker1 docker images --digests | awk '$1 == "registry:5000/team/app" {print $2, $3}' | grep -qx "<none> $d" || return 1
    k get pods -l app=app -o jsonpath='{.items[*].spec.containers[0].image}' | grep -q "registry:5000/team/app@$d" || return 1
    [ -z "$(k get pods -l app=app --no-headers | awk '$3 != "Running"')" ]
}

t_registry_down_pull_fails_then_pulls() {
    # the registry lives with its pod: scaled to 0, the process is gone
    k -n kube-system scale deployment registry --replicas=0 >/dev/null || return 1
    wait_until 20 bash -c "! timeout 1 bash -c 'exec 3<>/dev/tcp/$(registry_ip)/5000' 2>/dev/null" || { echo "registry still answers"; return 1; }
    # a pod whose image worker1 lacks (by tag) must be pulled: Docker's own error
    echo '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pull-test", "namespace": "default"},
           "spec": {"nodeName": "worker1", "containers": [{"name": "app", "image": "registry:5000/team/app:1.0"}]}}' |
        k create --validate=false -f - >/dev/null || return 1
    wait_until 30 bash -c "$LAB kubectl get pod pull-test -o jsonpath='{.status.containerStatuses[0].state.waiting.message}' | grep -q 'connection refused'" ||
        { waiting_msg pull-test; return 1; }
    waiting_msg pull-test
    # registry back: the kubelet's next try pulls it
    k -n kube-system scale deployment registry --replicas=1 >/dev/null || return 1
    wait_until 40 registry_answers || { echo "registry did not come back"; return 1; }
    wait_until 30 bash -c "[ \"\$($LAB kubectl get pod pull-test -o jsonpath='{.status.phase}')\" = Running ]" ||
        { waiting_msg pull-test; return 1; }
    k delete pod pull-test >/dev/null
}

t_digest_lost_by_save_and_import() {
    # FIELD.md pitfall 1: `docker save | ctr import` alone, registry down: the pod pinned
    # by digest cannot start on containerd; the tagged ones do
    local d
    d=$(pinned_digest)
    k -n kube-system scale deployment registry --replicas=0 >/dev/null || return 1
    wait_until 20 bash -c "! timeout 1 bash -c 'exec 3<>/dev/tcp/$(registry_ip)/5000' 2>/dev/null" || return 1
    lab_ssh worker0 'set -e
        docker save $(docker images --format "{{.Repository}}:{{.Tag}}" | grep -v "<none>") | ctr -n k8s.io images import - >/dev/null
        systemctl stop kubelet
        systemctl disable --now docker.socket docker.service 2>/dev/null
        containerd config default | sed -e "s/SystemdCgroup = false/SystemdCgroup = true/" > /etc/containerd/config.toml
        systemctl restart containerd
        echo "KUBELET_KUBEADM_ARGS=\"--container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.6\"" > /var/lib/kubelet/kubeadm-flags.env
        systemctl start kubelet' || return 1
    wait_until 30 node_is worker0 True containerd://1.6 || { ready_msg worker0; return 1; }
    local app
    app=$(k get pods -l app=app -o jsonpath='{.items[?(@.spec.nodeName=="worker0")].metadata.name}')
    [ -n "$app" ] || { echo "no app pod on worker0"; return 1; }
    wait_until 30 bash -c "$LAB kubectl get pod $app -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}' | grep -qE 'ErrImagePull|ImagePullBackOff'" ||
        { waiting_msg "$app"; return 1; }
    waiting_msg "$app"
    on worker0 ctr -n k8s.io images ls -q | grep -qx 'registry:5000/team/app:1.0' || return 1
    wait_until 20 bash -c "[ \"\$($LAB kubectl get pods -l app=tools -o jsonpath='{.items[?(@.spec.nodeName==\"worker0\")].status.phase}')\" = Running ]" || return 1
    # the correct carry: the image also named by its registry digest, where CRI resolves it
    on worker0 ctr -n k8s.io images tag registry:5000/team/app:1.0 "registry:5000/team/app@$d" >/dev/null || return 1
    wait_until 30 bash -c "[ \"\$($LAB kubectl get pod $app -o jsonpath='{.status.phase}')\" = Running ]" || { waiting_msg "$app"; return 1; }
}

# ---- a second shape: 1.27 via cri-dockerd, cgroupfs, flags in /etc/sysconfig, rpm drop-in --------
t_up_127() {
    "$LAB" up --spec lab/specs/k8s-1.27-cgroupfs.json >/dev/null || return 1
    local out
    out=$(k get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.status.nodeInfo.kubeletVersion} {.status.nodeInfo.containerRuntimeVersion}{"\n"}{end}')
    echo "$out"
    [ "$(echo "$out" | grep -c ' True v1.27.16 docker://20\.10\.')" -eq 6 ] || return 1
    on node0 systemctl is-active cri-docker.service | grep -qx active || return 1
    on node0 grep -q 'cri-dockerd.sock' /etc/sysconfig/kubelet || return 1
    on node0 test -f /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf || return 1
    ! on node0 test -e /etc/systemd/system/kubelet.service.d/10-kubeadm.conf
}

t_containerd_missing_node() {
    ! on node1 /bin/sh -c 'command -v containerd || command -v ctr' || return 1
    on node1 systemctl status containerd >/dev/null 2>&1; [ $? -eq 4 ] || return 1
    # docker runs all the same, on its private containerd
    on node1 docker info --format '{{.ServerVersion}}' | grep -q '^20\.10' || return 1
    on node0 /bin/sh -c 'command -v containerd'
}

t_disk_free_node() {
    local avail
    avail=$(on node2 df -m --output=avail /var/lib/containerd | tail -1 | tr -d ' ')
    [ "$avail" -le 64 ] && [ "$avail" -ge 50 ] || { echo "avail=$avail"; return 1; }
}

t_kubelet_127_rejects_container_runtime_flag() {
    # a 1.27 kubelet has no --container-runtime: it exits at once and never comes up
    on node0 /bin/sh -c 'echo "KUBELET_EXTRA_ARGS=\"--container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock\"" > /etc/sysconfig/kubelet'
    on node0 systemctl restart kubelet
    # (a loaded machine may take more than a second to start python and exit)
    wait_until 10 bash -c "[ \"\$($LAB exec node0 systemctl is-active kubelet)\" != active ]" || return 1
    on node0 journalctl -u kubelet | grep -q 'unknown flag: --container-runtime' || return 1
    on node0 systemctl show -p Result kubelet | grep -qx 'Result=exit-code' || return 1
    on node0 kubelet --version | grep -qx 'Kubernetes v1.27.16'
}

pod_phase_on() { # pod_phase_on NODE: the reasons/phases of the node's pods
    k get pods -A --field-selector "spec.nodeName=$1" --no-headers | awk '{print $4}' | sort -u | tr '\n' ' '
}

t_cri_dockerd_sandbox_image_is_its_flag() {
    # cri-dockerd creates sandboxes with its own --pod-infra-container-image: one that is not
    # in Docker's store leaves node2's pods ContainerCreating, whatever the kubelet's flag says
    local unit=/usr/lib/systemd/system/cri-docker.service
    on node2 sed -i 's#--pod-infra-container-image=[^ ]*#--pod-infra-container-image=registry.k8s.io/pause:0.0-absent#' $unit || return 1
    on node2 systemctl daemon-reload
    on node2 systemctl restart cri-docker || return 1
    wait_until 30 sh -c "'$LAB' kubectl get pods -A --field-selector spec.nodeName=node2 --no-headers | grep -q ContainerCreating" ||
        { pod_phase_on node2; return 1; }
    # cri-dockerd given the version's pause image again: Running
    on node2 sed -i 's#--pod-infra-container-image=[^ ]*#--pod-infra-container-image=registry.k8s.io/pause:3.9#' $unit || return 1
    on node2 systemctl daemon-reload
    on node2 systemctl restart cri-docker || return 1
    wait_until 30 sh -c "[ \"\$('$LAB' kubectl get pods -A --field-selector spec.nodeName=node2 --no-headers | awk '{print \$4}' | sort -u)\" = Running ]" ||
        { pod_phase_on node2; return 1; }
}

t_api_restart_keeps_state() {
    k label node worker2 lab-test=kept --overwrite || return 1
    "$LAB" restart-api || return 1
    [ "$(k get node worker2 -o jsonpath='{.metadata.labels.lab-test}')" = kept ] || return 1
    k label node worker2 lab-test- >/dev/null
}

t_cordon_history() {
    local h
    h=$(k get --raw /lab/v1/cordon-history) || return 1
    echo "$h" | grep -q '"node": "worker0"' || return 1
    echo "$h" | grep -q '"maxCordoned": 1'
}

t_fault_cut_and_heal() {
    "$LAB" fault worker2 cut || return 1
    if lab_ssh worker2 true 2>/dev/null; then echo "ssh worked through a cut link"; return 1; fi
    "$LAB" fault worker2 heal || return 1
    wait_until 10 lab_ssh worker2 true || return 1
    "$LAB" fault worker2 kill-sshd || return 1
    if lab_ssh worker2 true 2>"$LOG/ks.err"; then echo "ssh worked with sshd killed"; return 1; fi
    grep -q 'Connection refused' "$LOG/ks.err" || return 1
    "$LAB" fault worker2 heal || return 1
    wait_until 10 lab_ssh worker2 true
}

# ---- etcd: real members, the API server needs their quorum -----------------------------------
etcd_healthy() { # etcd_healthy HOST N: N members answer healthy through HOST's etcdctl
    [ "$(on "$1" etcdctl --endpoints=http://127.0.0.1:2379 endpoint health --cluster 2>&1 | grep -c 'is healthy')" -eq "$2" ]
}
etcd_running() { on "$1" pgrep -x etcd >/dev/null; }
live_restore_off() {
    on "$1" sed -i 's/"live-restore": *true/"live-restore": false/' /etc/docker/daemon.json
}
kubectl_fails_on_etcd() {
    local out
    out=$(k get nodes --request-timeout=30s 2>&1) && return 1
    echo "$out" | grep -q 'etcdserver: request timed out'
}

t_etcd_stacked() {
    local m
    etcd_healthy master0 3 || { on master0 etcdctl endpoint health --cluster; return 1; }
    on master0 etcdctl member list | grep -q ', started, master2, http://' || return 1
    for m in master0 master1 master2; do etcd_running "$m" || { echo "no etcd on $m"; return 1; }; done
    [ "$(k get pod -n kube-system etcd-master1 -o jsonpath='{.status.phase}')" = Running ] || return 1
    # containers outlive the kubelet: stopping it leaves etcd running
    on master1 systemctl stop kubelet || return 1
    etcd_running master1 || { echo "etcd died with the kubelet"; return 1; }
    on master1 systemctl start kubelet
}

t_etcd_live_restore_keeps_member() {
    # the default spec has live-restore on: stopping Docker leaves its containers running
    on master1 systemctl stop docker.socket docker || return 1
    etcd_running master1 || { echo "etcd died although live-restore is on"; return 1; }
    on master1 systemctl start docker.socket docker
}

t_etcd_quorum() {
    local m
    for m in master1 master2; do
        live_restore_off "$m"
        on "$m" systemctl restart docker || return 1
        # a dockerd started without live-restore kills what it finds running; the kubelet restarts it
        wait_until 60 etcd_healthy master0 3 || { echo "members not back after docker restarted on $m"; return 1; }
    done
    # one member down: quorum holds, the API answers
    on master1 systemctl stop docker.socket docker || return 1
    wait_until 10 bash -c "! $LAB exec master1 pgrep -x etcd >/dev/null" || { echo "etcd survived docker"; return 1; }
    k get nodes >/dev/null || { echo "API down with one member down"; return 1; }
    # two of three down: kube-apiserver's requests time out, /readyz fails on etcd
    on master2 systemctl stop docker.socket docker || return 1
    wait_until 30 kubectl_fails_on_etcd || { k get nodes; return 1; }
    k get --raw /readyz 2>&1 | grep -q 'etcd failed' || return 1
    # one back: quorum again, the API recovers by itself
    on master2 systemctl start docker.socket docker || return 1
    wait_until 60 bash -c "$LAB kubectl get nodes >/dev/null 2>&1" || { echo "API did not recover"; return 1; }
    on master1 systemctl start docker.socket docker || return 1
    wait_until 60 etcd_healthy master0 3 || return 1
    local h
    h=$(k get --raw /lab/v1/etcd-history) || return 1
    echo "$h" | grep -q '"maxDown": 2' || { echo "$h"; return 1; }
    echo "$h" | grep -q '"quorum": false' || { echo "$h"; return 1; }
    wait_until 60 node_is master2 True docker://
}

t_up_etcd_docker() {
    "$LAB" up --spec lab/specs/etcd-docker.json >/dev/null || return 1
    local m
    # (a member whose `docker run` came before its image was loaded retries after 15 s)
    for m in master0 master1 master2; do
        wait_until 60 bash -c "[ \"\$($LAB exec $m systemctl is-active etcd)\" = active ]" ||
            { on "$m" systemctl status etcd; return 1; }
    done
    wait_until 60 etcd_healthy master0 3 || return 1
    on master0 etcdctl member list | grep -q ', started, etcd1, http://' || return 1
    # Kubespray's unit: a foreground `docker run` of the etcd image
    on master0 systemctl cat etcd | grep -q 'docker run --restart=on-failure:5' || return 1
    on master0 docker image inspect quay.io/coreos/etcd:v3.5.6 >/dev/null || return 1
    [ "$(on worker0 systemctl is-active log-shipper)" = active ]
}

t_etcd_docker_dies_with_docker() {
    # the correct setup first: docker up, member healthy (above); then Docker stops
    on master1 systemctl stop docker.socket docker || return 1
    wait_until 20 bash -c "[ \"\$($LAB exec master1 systemctl is-active etcd)\" != active ]" || return 1
    on master1 journalctl -u etcd -o cat | grep -q 'error waiting for container: unexpected EOF' || return 1
    wait_until 10 etcd_healthy master0 2 || return 1
    # Restart=always: the next `docker run` finds no Docker (the socket is stopped too)
    wait_until 30 bash -c "$LAB exec master1 journalctl -u etcd -o cat | grep -q 'Cannot connect to the Docker daemon'" || return 1
    # a unit that Requires=docker.service stops with it
    on worker0 systemctl stop docker.socket docker || return 1
    [ "$(on worker0 systemctl is-active log-shipper)" = inactive ] || return 1
    on worker0 systemctl start docker.socket docker log-shipper || return 1
    on master1 systemctl start docker.socket docker || return 1
    wait_until 60 etcd_healthy master0 3
}

t_etcd_host_survives_docker() {
    # Kubespray's etcd_deployment_type: host (etcd-host.service), member by member
    on master2 /bin/sh -c 'printf "[Unit]\nDescription=etcd\nAfter=network.target\n\n[Service]\nType=notify\nEnvironmentFile=/etc/etcd.env\nExecStart=/usr/bin/etcd\nNotifyAccess=all\nRestart=always\nRestartSec=10s\nLimitNOFILE=40000\n\n[Install]\nWantedBy=multi-user.target\n" > /etc/systemd/system/etcd.service && systemctl daemon-reload && systemctl restart etcd' || return 1
    wait_until 30 etcd_healthy master0 3 || return 1
    on master2 systemctl stop docker.socket docker || return 1
    sleep 2
    [ "$(on master2 systemctl is-active etcd)" = active ] || return 1
    etcd_healthy master0 3 || return 1
    on master2 systemctl start docker.socket docker
}

t_down_of_a_state_without_lab_env_leaves_this_lab() {
    # `down` with another LAB_STATE that has no lab.env must not guess this lab's names.
    local d rc bridge=rtmiglab0
    d=$(mktemp -d)
    env -u LAB_NET_ID LAB_STATE="$d/other" "$LAB" down >"$d/out" 2>&1
    rc=$?
    if [ -z "${LAB_NET_ID:-}" ]; then # this lab has the default names: refused, named
        [ $rc -eq 1 ] && grep -q "has no lab.env" "$d/out" && grep -q -- "--default-names" "$d/out" ||
            { echo "rc=$rc"; cat "$d/out"; return 1; }
    else
        bridge=rtmiglab$LAB_NET_ID
        [ $rc -eq 0 ] || { echo "rc=$rc"; cat "$d/out"; return 1; }
    fi
    ip link show "$bridge" >/dev/null 2>&1 || { echo "bridge $bridge gone"; return 1; }
    k get nodes >/dev/null || { echo "the lab's API is gone"; return 1; }
    rm -rf "$d"
}

t_down_leaves_nothing() {
    "$LAB" down || return 1
    [ ! -e "$S" ] || { echo "state dir left: $S"; return 1; }
    local bridge=rtmiglab0 prefix=rtmiglab- veth=rtmlab
    [ -z "${LAB_NET_ID:-}" ] || bridge=rtmiglab$LAB_NET_ID prefix=rtmlab$LAB_NET_ID- veth=rtml${LAB_NET_ID}v
    ! ls /run/netns 2>/dev/null | grep -q "^$prefix" || { echo "netns left"; return 1; }
    ! ip link show "$bridge" >/dev/null 2>&1 || { echo "bridge left"; return 1; }
    # link names only: `ip link show` also prints peers' namespaces (link-netns rtmlabN-…)
    ! ip -o link show | awk -F': ' '{print $2}' | grep -q "^$veth[0-9]" || { echo "veth left"; return 1; }
    ! grep -q "$S" /proc/mounts || { echo "mounts left"; return 1; }
    local p left=""
    for p in /proc/[0-9]*; do
        if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -e "$S" -e "$PWD/lab/sim/"; then
            left="$left ${p#/proc/}"
        fi
    done
    [ -z "$left" ] || { echo "processes left:$left"; return 1; }
}

# ---- a third shape: Kubespray's layout and groups, the --cgroup-driver flag -----------------
t_up_kubespray() {
    # node4: kubelet-config.yaml says cgroupfs, the --cgroup-driver flag systemd (Docker: systemd)
    python3 - "$LOG/kubespray.json" <<'PY' || return 1
import json, sys
spec = json.load(open("lab/specs/kubespray.json"))
spec["hosts"] = {"node4": {"cgroup_driver": "cgroupfs", "cgroup_driver_flag": "systemd"}}
json.dump(spec, open(sys.argv[1], "w"))
PY
    "$LAB" up --spec "$LOG/kubespray.json" >/dev/null || return 1
    local n
    for n in node1 node2 node3 node4 node5; do
        wait_until 30 node_is "$n" True docker:// || { echo "$n: $(ready_msg "$n")"; return 1; }
    done
}

t_kubespray_layout() {
    # Kubespray's files, none of kubeadm's; the kubelet and kubectl in /usr/local/bin
    on node1 /bin/sh -c 'test -f /etc/kubernetes/kubelet.env && test -f /etc/kubernetes/kubelet-config.yaml &&
        test -f /etc/systemd/system/kubelet.service && test -f /etc/kubernetes/admin.conf &&
        ! test -e /var/lib/kubelet/config.yaml && ! test -e /var/lib/kubelet/kubeadm-flags.env &&
        ! test -e /etc/systemd/system/kubelet.service.d/10-kubeadm.conf && ! test -e /usr/lib/systemd/system/kubelet.service &&
        [ "$(command -v kubelet)" = /usr/local/bin/kubelet ] && [ "$(command -v kubectl)" = /usr/local/bin/kubectl ]' ||
        { echo "layout"; return 1; }
    on node1 grep -q '^KUBELET_ARGS="--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \\$' /etc/kubernetes/kubelet.env || return 1
    on node1 grep -qx 'Wants=docker.socket' /etc/systemd/system/kubelet.service || return 1
    # systemd joins KUBELET_ARGS' continued lines: the kubelet got every flag, read its --config
    local cmd
    cmd=$(on node1 /bin/sh -c 'tr "\0" " " < /proc/$(systemctl show -p MainPID --value kubelet)/cmdline')
    echo "$cmd"
    [[ "$cmd" == *"--config=/etc/kubernetes/kubelet-config.yaml --kubeconfig=/etc/kubernetes/kubelet.conf --pod-infra-container-image="* ]] || return 1
    [[ "$cmd" == *"--network-plugin=cni --cni-conf-dir=/etc/cni/net.d"* ]] || return 1
    on node1 journalctl -u kubelet | grep -q 'cgroupDriver="systemd"'
}

t_kubespray_inventory() {
    local inv=$S/inventory.yaml
    grep -q '^    kube_control_plane:$' "$inv" && grep -q '^    kube_node:$' "$inv" &&
        grep -q '^    etcd:$' "$inv" && grep -q '^    k8s_cluster:$' "$inv" || { cat "$inv"; return 1; }
    # node2 and node3 are in kube_control_plane and kube_node
    sed -n '/^    kube_node:/,/^    etcd:/p' "$inv" | grep -q '^        node2:$' || return 1
    sed -n '/^    kube_node:/,/^    etcd:/p' "$inv" | grep -q '^        node3:$' || return 1
    ! sed -n '/^    kube_node:/,/^    etcd:/p' "$inv" | grep -q '^        node1:$'
}

t_kubespray_kubelet_wants_docker_socket() {
    # Kubespray's kubelet.service Wants=docker.socket: stopping Docker and its socket does not
    # keep them stopped once the kubelet starts again
    on node3 systemctl stop docker.socket docker || return 1
    [ "$(on node3 systemctl is-active docker.socket)" = inactive ] || return 1
    on node3 systemctl restart kubelet || return 1
    wait_until 10 sh -c "[ \"\$('$LAB' exec node3 systemctl is-active docker.socket)\" = active ]" ||
        { echo "docker.socket not started by the kubelet's Wants="; return 1; }
    # the unit as Kubespray writes it for containerd leaves them stopped
    on node3 sed -i 's/^After=docker.service$/After=containerd.service/; s/^Wants=docker.socket$/Wants=containerd.service/' \
        /etc/systemd/system/kubelet.service || return 1
    on node3 systemctl daemon-reload
    on node3 systemctl stop docker.socket docker || return 1
    on node3 systemctl restart kubelet
    sleep 2
    [ "$(on node3 systemctl is-active docker.socket)" = inactive ] || { echo "docker.socket started again"; return 1; }
}

t_cgroup_driver_flag_wins() {
    # node4's config file says cgroupfs, its --cgroup-driver flag systemd, as Docker: Ready
    node_is node4 True docker:// || { ready_msg node4; return 1; }
    on node4 journalctl -u kubelet | grep -q 'cgroupDriver="systemd"' || return 1
    # node5's config says systemd (as Docker); given the flag --cgroup-driver=cgroupfs, the
    # flag wins and the kubelet refuses to start
    on node5 sed -i 's/--runtime-cgroups=/--cgroup-driver=cgroupfs --runtime-cgroups=/' /etc/kubernetes/kubelet.env || return 1
    on node5 systemctl restart kubelet
    wait_until 20 sh -c "'$LAB' exec node5 journalctl -u kubelet | grep -q 'misconfiguration: kubelet cgroup driver: .*cgroupfs.* is different from docker cgroup driver: .*systemd'" ||
        { on node5 journalctl -u kubelet | tail -5; return 1; }
    [ "$(on node5 systemctl is-active kubelet)" != active ]
}

t0=$(date +%s)
check "up with the default spec prints the inventory path last" t_up
if [ "$failed" -ne 0 ]; then
    "$LAB" down >/dev/null 2>&1
    echo "0 passed, 1 failed"
    exit 1
fi
check "the inventory has masters, workers, addresses, key, kubeconfig, version, registry node" t_inventory
check "kubectl get nodes: every node Ready on docker://" t_nodes_ready_docker
check "every pod of the default workloads is Running" t_pods_running
check "ssh with the lab key and known_hosts reaches every host, which knows its name" t_ssh_every_host
check "ssh refuses a host whose key is not in known_hosts" t_ssh_refuses_unknown_host_key
check "each host has its own clean home; masters have kubectl and a kubeconfig" t_clean_home
check "each host has kubeadm's network sysctls set" t_sysctls
check "starting images are in Docker's store only, distinct per role" t_images_in_docker_only
check "containerd starts as containerd.io ships it: CRI disabled" t_containerd_starting_config
check "systemctl: is-active, enable/disable persisted, status codes, daemon-reload warning" t_systemctl
check "docker.socket starts a stopped docker on the next connection" t_socket_activation
check "a drain blocked by a PodDisruptionBudget fails at its timeout" t_drain_blocked_by_pdb
check "a correct manual migration of worker0 ends Ready on containerd://, pods Running" t_manual_migration
check "dockershim with --network-plugin=cni and no CNI config: NotReady; config back: Ready" t_cni_config_missing_not_ready
check "containerd without the CNI plugin the config names: pods ContainerCreating; plugin back: Running" t_cni_plugin_missing_pods_wait
check "kubelet on containerd with the CRI plugin disabled: NotReady, kubelet down" t_cri_disabled_not_ready
check "kubelet systemd vs containerd SystemdCgroup=false: NotReady" t_cgroup_mismatch_not_ready
check "sandbox image missing from k8s.io: NotReady" t_missing_sandbox_not_ready
check "a pod whose image was not carried over does not run" t_image_not_carried_does_not_run
check "a pod that crashes on containerd: CrashLoopBackOff, Running, not Ready; on Docker it runs" t_crash_loop_on_containerd
check "upgrade-kubelet to 1.24 with --network-plugin left: unknown flag, kubelet down" t_upgrade_kubelet_with_dockershim_flags_fails
check "upgrade-kubelet of a migrated node to 1.24, then 1.27 with kubeadm's rewrites: Ready" t_upgrade_kubelet_migrated_node_ready
check "cordon history records each cordon with the cordoned set" t_cordon_history
check "stacked etcd: 3 real members run by the kubelets from etcd.yaml, outliving a stopped kubelet" t_etcd_stacked
check "stacked etcd with live-restore: docker stopped, the member keeps running" t_etcd_live_restore_keeps_member
check "docker stopped on 2 of 3 masters: kubectl fails (etcdserver: request timed out), one back restores it" t_etcd_quorum
check "a restarted API server keeps its state" t_api_restart_keeps_state
check "fault cut/heal/kill-sshd" t_fault_cut_and_heal
check "down of another state dir without lab.env leaves this lab up" t_down_of_a_state_without_lab_env_leaves_this_lab
check "down leaves nothing behind" t_down_leaves_nothing
check "1.27 spec: every node Ready on docker:// through cri-dockerd, flags in /etc/sysconfig/kubelet" t_up_127
check "a node whose containerd binary is missing" t_containerd_missing_node
check "a node with 64 MiB free under /var/lib/containerd" t_disk_free_node
check "a 1.27 kubelet given --container-runtime=remote fails" t_kubelet_127_rejects_container_runtime_flag
check "cri-dockerd's own --pod-infra-container-image decides the sandbox image" t_cri_dockerd_sandbox_image_is_its_flag
check "Kubespray spec: nodes Ready on docker:// from kubelet.env, kubelet-config.yaml and its unit" t_up_kubespray
check "Kubespray layout: its files, no kubeadm files, kubelet/kubectl in /usr/local/bin, KUBELET_ARGS joined" t_kubespray_layout
check "Kubespray inventory: kube_control_plane, kube_node (with node2, node3), etcd, k8s_cluster" t_kubespray_inventory
check "Kubespray's kubelet.service starts docker.socket again; wanting containerd.service does not" t_kubespray_kubelet_wants_docker_socket
check "the --cgroup-driver flag wins over the config file's cgroupDriver" t_cgroup_driver_flag_wins
check "air-gapped spec: a real registry at registry:5000 (a port, no dot) on master0 holds the pushed images" t_up_registry
check "images pulled through the registry carry its digests; pods pinned by them run on Docker" t_registry_digests
check "registry pod scaled to 0: the registry is down, a pull fails with Docker's error, then succeeds once it is back" t_registry_down_pull_fails_then_pulls
check "docker save | ctr import alone, registry down: the digest-pinned pod cannot start on containerd; named by its digest, it runs" t_digest_lost_by_save_and_import
check "a spec error is one line naming its key, never a traceback" t_spec_errors_name_their_key
check "TKEStack spec: its Namespace tke accepted, tke-registry-api Running on master1, no registry_node" t_up_tkestack
check "etcd in docker (Kubespray's etcd-docker.service) and a docker-run unit: up and healthy" t_up_etcd_docker
check "etcd in docker dies with Docker, so does a unit that Requires= docker.service" t_etcd_docker_dies_with_docker
check "etcd on the host (Kubespray's etcd-host.service) survives Docker stopping" t_etcd_host_survives_docker
if [ "${LAB_TEST_KEEP:-0}" != 1 ]; then
    check "down leaves nothing behind (last lab)" t_down_leaves_nothing
fi
t1=$(date +%s)
echo "# $(cat "$LOG/up-time" 2>/dev/null), whole run $((t1 - t0)) s; logs in $LOG"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
