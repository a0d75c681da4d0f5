#!/usr/bin/python3
"""cri-dockerd for the lab: the CRI shim Kubernetes 1.24+ needs to keep running on Docker.

Installed as /usr/bin/cri-dockerd on hosts of a 1.24+ spec, started by cri-docker.service
(socket-activated by cri-docker.socket, as Mirantis ships them). It does not speak gRPC:
it answers the lab's kubelet simulator on its socket with one JSON line describing the
Docker behind it (`INFO` request), which is all the kubelet simulator needs to decide
whether the node is Ready on `docker://`. It fails to start, as cri-dockerd does, when
dockerd does not answer.

Standard library only: this is a test fixture, not shipped code.
"""
import http.client
import json
import os
import signal
import socket
import sys
import threading


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.path)
        self.sock = s


def docker_info(sock):
    c = UnixHTTP(sock)
    try:
        c.request("GET", "/info")
        info = json.loads(c.getresponse().read())
        c.request("GET", "/version")
        ver = json.loads(c.getresponse().read())
        return {"ok": True, "version": ver.get("Version"), "cgroupDriver": info.get("CgroupDriver")}
    except OSError as e:
        return {"ok": False, "error": f"Cannot connect to the Docker daemon at unix://{sock}. "
                                      f"Is the docker daemon running? ({e})"}
    finally:
        c.close()


def set_process_name(name):
    """Show as the real daemon in ps, pgrep and systemctl status (comm), not as python3."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, name, 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def main(argv):
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    set_process_name(b"cri-dockerd")
    endpoint, docker = "unix:///var/run/cri-dockerd.sock", "unix:///var/run/docker.sock"
    # cri-dockerd 0.3's defaults: the CNI network plugin (since 0.2.5) in the usual dirs,
    # and its own sandbox image (the kubelet's --pod-infra-container-image never reaches it).
    settings = {"podInfraImage": "registry.k8s.io/pause:3.9", "networkPlugin": "cni",
                "cniBinDir": "/opt/cni/bin", "cniConfDir": "/etc/cni/net.d"}
    setting_flags = {"pod-infra-container-image": "podInfraImage", "network-plugin": "networkPlugin",
                     "cni-bin-dir": "cniBinDir", "cni-conf-dir": "cniConfDir"}
    i = 0
    while i < len(argv):
        a = argv[i]
        name, eq, val = a.lstrip("-").partition("=")
        if name == "version":
            print("cri-dockerd 0.3.4 (lab)")
            return 0
        if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            val = argv[i + 1]
            i += 1
        if name == "container-runtime-endpoint":
            endpoint = val
        elif name == "docker-endpoint":
            docker = val
        elif name in setting_flags:
            settings[setting_flags[name]] = val
        i += 1
    dsock = docker[len("unix://"):] if docker.startswith("unix://") else docker
    first = docker_info(dsock)
    if not first["ok"]:
        print(f"level=fatal msg=\"{first['error']}\"", file=sys.stderr)
        return 1
    if endpoint == "fd://" and os.environ.get("LISTEN_FDS"):
        srv = socket.socket(fileno=3)
    else:
        path = endpoint[len("unix://"):] if endpoint.startswith("unix://") else endpoint
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(16)
    print(f"level=info msg=\"Connecting to docker on the Endpoint {docker}\"", file=sys.stderr)
    print("level=info msg=\"Start cri-dockerd grpc backend\"", file=sys.stderr, flush=True)
    ns = os.environ.get("NOTIFY_SOCKET")
    if ns:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(b"READY=1", ns)
        s.close()

    def serve(conn):
        with conn:
            conn.settimeout(5)
            try:
                if conn.recv(64).startswith(b"INFO"):
                    info = docker_info(dsock)
                    info["runtime"] = "cri-dockerd"
                    info["dockerEndpoint"] = docker
                    info.update(settings)
                    conn.sendall(json.dumps(info).encode() + b"\n")
            except OSError:
                pass

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
