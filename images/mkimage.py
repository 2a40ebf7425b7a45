#!/usr/bin/env python3
"""Writes a docker-archive image tarball (for `ctr images import`, `docker load`) from a root
filesystem directory, without an image builder: one layer, fixed timestamps and owners, so the same
input gives the same image. Used by scripts/kube-local.sh (the pause image) and images/standin/build.sh.

usage: mkimage.py ROOTFS REPO:TAG OUT.tar [--entrypoint JSON] [--cmd JSON] [--user UID:GID]"""
import argparse
import hashlib
import io
import json
import os
import tarfile

ap = argparse.ArgumentParser()
ap.add_argument("rootfs")
ap.add_argument("tag")
ap.add_argument("out")
ap.add_argument("--entrypoint", default="null")
ap.add_argument("--cmd", default="null")
ap.add_argument("--user", default="")
a = ap.parse_args()

layer_buf = io.BytesIO()
with tarfile.open(fileobj=layer_buf, mode="w", format=tarfile.PAX_FORMAT) as layer:
    for top, dirs, files in os.walk(a.rootfs):
        dirs.sort()
        files.sort()
        for path in [top] + [os.path.join(top, n) for n in dirs + files]:
            rel = os.path.relpath(path, a.rootfs)
            if rel == ".":
                continue
            info = layer.gettarinfo(path, arcname=rel)
            # Owners as the rootfs has them (65532 for a non-root home), names dropped; no mtimes.
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isfile():
                with open(path, "rb") as f:
                    layer.addfile(info, f)
            else:
                layer.addfile(info)
layer_bytes = layer_buf.getvalue()
diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
config = {
    "architecture": "amd64",
    "os": "linux",
    "created": "1970-01-01T00:00:00Z",
    "config": {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Entrypoint": json.loads(a.entrypoint),
        "Cmd": json.loads(a.cmd),
        "User": a.user,
        "WorkingDir": "/",
    },
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "images/mkimage.py"}],
}
config_bytes = json.dumps(config, sort_keys=True).encode()
config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
layer_name = diff_id.split(":")[1] + "/layer.tar"
manifest = json.dumps([{"Config": config_name, "RepoTags": [a.tag], "Layers": [layer_name]}]).encode()
with tarfile.open(a.out, "w") as out:
    for name, data in ((layer_name, layer_bytes), (config_name, config_bytes), ("manifest.json", manifest)):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        out.addfile(info, io.BytesIO(data))
print(f"{a.out}: {a.tag}, layer {diff_id[:19]}, {len(layer_bytes) // 1024} KiB")
