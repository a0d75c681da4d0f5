#!/usr/bin/python3
"""A pod's container that stands for a real host process (the lab's registry).

The kubelet simulator starts it, in its own session, when a pod annotated
`lab.rtmig/process: NAME` runs on the node; it runs the command line of
/etc/lab-pod-processes/NAME.json and lives as a container does: it survives the kubelet
(containers keep running when the kubelet stops) and dies with the runtime that started
it (dockerd, without live-restore, or containerd), or when the kubelet stops the pod.

usage: podproc.py PIDFILE RUNTIME_PID ARGV...

Standard library only: this is a test fixture, not shipped code.
"""
import os
import signal
import subprocess
import sys
import time


def start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def main(argv):
    pidfile, rtpid, cmd = argv[1], int(argv[2]), argv[3:]
    born = start_time(rtpid)
    if born is None:
        return 1
    child = subprocess.Popen(cmd, start_new_session=True)

    def stop(*_):
        try:
            os.killpg(child.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
        try:
            if open(pidfile).read().split()[0] == str(os.getpid()):
                os.unlink(pidfile)
        except (OSError, IndexError):
            pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(pidfile + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {rtpid}\n")
    os.replace(pidfile + ".tmp", pidfile)
    while child.poll() is None:
        if start_time(rtpid) != born:  # the runtime is gone: so is its container
            stop()
        time.sleep(0.5)
    try:
        os.unlink(pidfile)
    except OSError:
        pass
    return child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
