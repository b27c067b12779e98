#!/usr/bin/python3
"""Turn a one-image OCI layout into a multi-platform one, as `docker buildx
--platform linux/amd64,linux/arm64` pushes: an index with the image for
amd64 and the same layers as linux/arm64/v8 (a config naming arm64), plus
an attestation-like entry for unknown/unknown that a puller must skip.

    mkindex.py IN_LAYOUT OUT_LAYOUT
"""
import hashlib
import json
import os
import shutil
import sys

src, out = sys.argv[1:3]
shutil.copytree(src, out)
blobs = os.path.join(out, "blobs", "sha256")


def read_blob(digest):
    with open(os.path.join(blobs, digest.split(":")[1]), "rb") as f:
        return f.read()


def write_blob(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


with open(os.path.join(out, "index.json")) as f:
    index = json.load(f)
amd64 = index["manifests"][0]
manifest = json.loads(read_blob(amd64["digest"]))
config = json.loads(read_blob(manifest["config"]["digest"]))
config["architecture"] = "arm64"
config["variant"] = "v8"
digest, size = write_blob(json.dumps(config).encode())
manifest["config"]["digest"], manifest["config"]["size"] = digest, size
arm_digest, arm_size = write_blob(json.dumps(manifest).encode())
unknown_digest, unknown_size = write_blob(json.dumps(manifest).encode() + b" ")
entry = lambda d, s, p: {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                         "digest": d, "size": s, "platform": p}
index["manifests"] = [
    entry(amd64["digest"], amd64["size"], {"os": "linux", "architecture": "amd64"}),
    entry(arm_digest, arm_size, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
    entry(unknown_digest, unknown_size, {"os": "unknown", "architecture": "unknown"}),
]
# index.json names the image index, as skopeo's oci: transport wants it.
nested = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
          "manifests": index["manifests"]}
nested_digest, nested_size = write_blob(json.dumps(nested).encode())
index["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json",
                       "digest": nested_digest, "size": nested_size,
                       "annotations": {"org.opencontainers.image.ref.name": "latest"}}]
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f)
