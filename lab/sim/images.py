#!/usr/bin/python3
"""Image archives for the lab: `docker save`-format tarballs made without a daemon.

Each image is one layer: a small busybox-static root filesystem plus /etc/lab-image, a
file naming the image, so every image has its own layer digest (distinct per role, as in
the field) while the layer stays about 1 MB compressed (a spec's `images.size_mb` adds incompressible
filler, for images of a real size). The archive is what `docker save`
writes (manifest.json, <config>.json, <layer>/layer.tar, repositories), so `docker load`
takes it and, after the migration, `ctr -n k8s.io images import` takes what Docker saves.

Standard library only: this is a test fixture, not shipped code.
"""
import hashlib
import io
import json
import os
import random
import sys
import tarfile

BUSYBOX = "/bin/busybox"
# Applets linked in each image: enough for `sh -c`, not the whole set.
APPLETS = ["sh", "ls", "cat", "echo", "sleep", "true", "false", "env", "ps", "wget"]
EPOCH = 1672531200  # 2023-01-01T00:00:00Z: fixed so the same image is the same everywhere


def normalize(ref):
    """`nginx` -> `docker.io/library/nginx:latest`, as containerd names images."""
    name, tag = ref, "latest"
    at = ref.rfind(":")
    if at > ref.rfind("/"):
        name, tag = ref[:at], ref[at + 1 :]
    first = name.split("/")[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + name
    return f"{name}:{tag}"


def _add(tar, name, data=None, mode=0o644, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.mtime = EPOCH
    info.mode = mode
    info.type = kind
    info.linkname = link
    if data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def filler(ref, size_mb):
    """`size_mb` MiB of bytes that do not compress, the same for the same image everywhere:
    an image of a real size, so carrying it takes the time it takes in the field."""
    return random.Random(hashlib.sha256(ref.encode()).digest()).randbytes(size_mb << 20)


def layer_tar(ref, busybox_bytes, size_mb=0):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for d in ["bin", "etc", "tmp"]:
            _add(tar, d + "/", kind=tarfile.DIRTYPE, mode=0o755)
        _add(tar, "bin/busybox", busybox_bytes, mode=0o755)
        for a in APPLETS:
            _add(tar, "bin/" + a, kind=tarfile.SYMTYPE, link="busybox", mode=0o777)
        _add(tar, "etc/lab-image", (ref + "\n").encode())
        if size_mb:
            _add(tar, "lab-filler", filler(ref, size_mb))
    return buf.getvalue()


def image_parts(ref, busybox_bytes, size_mb=0):
    layer = layer_tar(ref, busybox_bytes, size_mb)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2023-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/bin"],
            "Cmd": ["/bin/sleep", "3600"],
            "Labels": {"lab.rtmig/image": ref},
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2023-01-01T00:00:00Z", "created_by": "rtmig lab " + ref}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    image_id = hashlib.sha256(config_bytes).hexdigest()
    layer_dir = hashlib.sha256((diff_id + ref).encode()).hexdigest()
    return layer, layer_dir, config_bytes, image_id


def write_archives(jobs, size_mb=None):
    """Write one `docker save` archive per (path, refs) job; each image is built once.
    `size_mb(ref)`: MiB of incompressible filler in that image's layer (default none)."""
    with open(BUSYBOX, "rb") as f:
        busybox_bytes = f.read()
    cache = {}
    for path, refs in jobs:
        manifest, repositories = [], {}
        tmp = path + ".tmp"
        with tarfile.open(tmp, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for ref in refs:
                if ref not in cache:
                    cache[ref] = image_parts(ref, busybox_bytes, size_mb(ref) if size_mb else 0)
                layer, layer_dir, config_bytes, image_id = cache[ref]
                _add(tar, layer_dir + "/", kind=tarfile.DIRTYPE, mode=0o755)
                _add(tar, layer_dir + "/VERSION", b"1.0")
                _add(tar, layer_dir + "/json", json.dumps({"id": layer_dir}).encode())
                _add(tar, layer_dir + "/layer.tar", layer)
                _add(tar, image_id + ".json", config_bytes)
                manifest.append({"Config": image_id + ".json", "RepoTags": [ref],
                                 "Layers": [layer_dir + "/layer.tar"]})
                name, _, tag = ref.rpartition(":")
                repositories.setdefault(name, {})[tag] = layer_dir
            _add(tar, "manifest.json", json.dumps(manifest).encode())
            _add(tar, "repositories", json.dumps(repositories).encode())
        os.replace(tmp, path)


if __name__ == "__main__":
    write_archives([(sys.argv[1], sys.argv[2:])])
