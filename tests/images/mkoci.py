#!/usr/bin/python3
"""Assemble an OCI image layout from uncompressed layer tars.

    mkoci.py --out DIR --ref NAME:TAG --compress gzip|zstd|none \
             --config-json '{"Cmd": [...]}' layer1.tar layer2.tar ...

The test images are built from Debian packages with no Docker; this writes
what `docker build` would have pushed: blobs, a config whose diff_ids are
the sha256 of each uncompressed tar, a manifest, and index.json naming it.
Also, with --docker-multi, a docker-archive holding two images that share
their layers through symlinks, as `docker save` (before 25) writes them.
"""
import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

CREATED = "2024-01-01T00:00:00Z"
LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def host_arch():
    out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    return out.stdout.strip() or "amd64"


def compress(src, dst, how):
    if how == "none":
        shutil.copyfile(src, dst)
        return
    if how == "gzip":
        tool = ["pigz", "-n", "-6", "-c"] if shutil.which("pigz") else ["gzip", "-n", "-6", "-c"]
    else:
        tool = ["zstd", "-q", "-3", "-T0", "-c"]
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        subprocess.run(tool, stdin=fin, stdout=fout, check=True)


def put_blob(blobs, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def build_layout(args):
    out = args.out
    if os.path.exists(out):
        shutil.rmtree(out)
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs)
    layers, diff_ids = [], []
    for tar in args.layers:
        diff_ids.append("sha256:" + sha256_file(tar))
        tmp = os.path.join(blobs, "incoming")
        compress(tar, tmp, args.compress)
        digest = sha256_file(tmp)
        os.rename(tmp, os.path.join(blobs, digest))
        layers.append({
            "mediaType": LAYER_TYPES[args.compress],
            "digest": "sha256:" + digest,
            "size": os.path.getsize(os.path.join(blobs, digest)),
        })
    config = {
        "created": CREATED,
        "architecture": host_arch(),
        "os": "linux",
        "config": json.loads(args.config_json),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": CREATED, "created_by": "vce tests/images: " + os.path.basename(t)}
                    for t in args.layers],
    }
    cdigest, csize = put_blob(blobs, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": cdigest, "size": csize},
        "layers": layers,
    }
    mdigest, msize = put_blob(blobs, json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": mdigest, "size": msize,
            "annotations": {"org.opencontainers.image.ref.name": args.ref},
        }],
    }
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


def add_bytes(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 1704067200
    tar.addfile(info, io.BytesIO(data))


def docker_multi(args):
    """Two images in one docker-archive; the second's layers are symlinks
    to the first's, as docker save wrote shared layers."""
    src = tarfile.open(args.docker_multi[0])
    manifest = json.load(src.extractfile("manifest.json"))[0]
    config = json.load(src.extractfile(manifest["Config"]))
    second = dict(config)
    second["config"] = dict(config.get("config") or {})
    second["config"]["Labels"] = {"org.vce.test": "second image"}
    second_bytes = json.dumps(second, sort_keys=True).encode()
    second_id = hashlib.sha256(second_bytes).hexdigest()
    with tarfile.open(args.docker_multi[1], "w", format=tarfile.PAX_FORMAT) as out:
        layers2 = []
        for i, layer in enumerate(manifest["Layers"]):
            data = src.extractfile(layer).read()
            first_dir = "first%d" % i
            add_bytes(out, first_dir + "/layer.tar", data)
            link = tarfile.TarInfo("second%d/layer.tar" % i)
            link.type = tarfile.SYMTYPE
            link.linkname = "../%s/layer.tar" % first_dir
            out.addfile(link)
            layers2.append(link.name)
        add_bytes(out, manifest["Config"], src.extractfile(manifest["Config"]).read())
        add_bytes(out, second_id + ".json", second_bytes)
        entries = [
            {"Config": manifest["Config"], "RepoTags": ["tiny:multi-a"],
             "Layers": ["first%d/layer.tar" % i for i in range(len(manifest["Layers"]))]},
            {"Config": second_id + ".json", "RepoTags": ["tiny:multi-b", "example.org/course/tiny:2"],
             "Layers": layers2},
        ]
        add_bytes(out, "manifest.json", json.dumps(entries).encode())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out")
    p.add_argument("--ref")
    p.add_argument("--compress", choices=sorted(LAYER_TYPES), default="gzip")
    p.add_argument("--config-json", default="{}")
    p.add_argument("--docker-multi", nargs=2, metavar=("DOCKER_ARCHIVE", "OUT"))
    p.add_argument("layers", nargs="*")
    args = p.parse_args()
    if args.docker_multi:
        docker_multi(args)
    else:
        build_layout(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
