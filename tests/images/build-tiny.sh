#!/bin/bash
# Builds the `tiny` test image: busybox-static in four layers holding every
# edge case a layer can: whiteouts, an opaque directory, hardlinks (within
# the layer and to a lower layer), relative and absolute symlinks, long PAX
# names and link targets, xattrs, a file capability, setuid/setgid/sticky
# bits, a FIFO, device nodes, a sparse file, empty files, directories
# without write or execute permission.
#
# Output (built once per machine, rebuilt when this script changes):
#   $VCE_TEST_IMAGES/tiny/layout-gzip/  layout-zstd/   OCI image layouts
#   oci-gzip.tar  oci-zstd.tar                          OCI archives (skopeo)
#   docker.tar  docker.tar.gz  docker.tar.zst           docker-archive (skopeo)
#   docker-multi.tar                                    two images, shared layers
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${VCE_TEST_IMAGES:-/var/tmp/vce-test-images}/tiny
stamp=$(cat "$here/build-tiny.sh" "$here/mkoci.py" | sha256sum | cut -c1-16)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
	exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-tiny.sh: run as root (it makes device nodes)" >&2; exit 1; }
echo "building test image tiny in $out"
work=$(mktemp -d /var/tmp/vce-tiny-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"

# Layer 1: busybox and a minimal /etc.
l1=$work/l1
mkdir -p "$l1"/{bin,etc,tmp,root,home/student,usr/bin}
cp /bin/busybox "$l1/bin/busybox"
for app in sh ls cat echo id stat sleep true false mkdir rm cp mv ln touch chmod \
	chown readlink find grep wc head tail env test ps kill; do
	ln -s busybox "$l1/bin/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\nstudent:x:1000:100::/home/student:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n' >"$l1/etc/passwd"
printf 'root:x:0:\nusers:x:100:\nnogroup:x:65534:\n' >"$l1/etc/group"
echo "lower layer content" >"$l1/etc/motd"
mkdir -p "$l1/to-delete/sub" "$l1/opaque-dir"
echo gone >"$l1/to-delete/sub/file"
echo a >"$l1/opaque-dir/a"
echo b >"$l1/opaque-dir/b"
chmod 1777 "$l1/tmp"
chmod 0700 "$l1/root"
chown 1000:100 "$l1/home/student"

# Layer 2: the edge cases.
l2=$work/l2
e=$l2/edge
mkdir -p "$e"
long="$e/a-directory-name-that-is-quite-long/another-directory-name-that-is-long-too"
long="$long/and-a-third-one-to-pass-the-hundred-byte-ustar-limit"
mkdir -p "$long"
echo "pax long name" >"$long/file-with-a-long-name.txt"
ln -s "../edge/a-directory-name-that-is-quite-long/another-directory-name-that-is-long-too/and-a-third-one-to-pass-the-hundred-byte-ustar-limit/file-with-a-long-name.txt" "$e/long-link"
ln -s /bin/busybox "$e/abs-link"
ln -s ../bin/busybox "$e/rel-link"
ln -s /edge/abs-link "$e/abs-chain"
echo "hardlinked" >"$e/hard-a"
ln "$e/hard-a" "$e/hard-b"
echo "with xattr" >"$e/xattr-file"
setfattr -n user.vce.test -v hello "$e/xattr-file"
cp /bin/busybox "$e/cap-file"
setcap cap_net_raw+ep "$e/cap-file"
cp /bin/busybox "$e/setuid" && chmod 4755 "$e/setuid"
cp /bin/busybox "$e/setgid" && chmod 2755 "$e/setgid"
mkdir "$e/sticky" && chmod 1777 "$e/sticky"
mkfifo "$e/fifo"
mknod "$e/char-null" c 1 3
mknod "$e/block-loop" b 7 0
truncate -s 32M "$e/sparse"
echo "end of sparse" >>"$e/sparse"
: >"$e/empty"
mkdir "$e/empty-dir" "$e/no-perm-dir" "$e/read-only-dir"
echo "inside" >"$e/no-perm-dir/inside"
echo "inside" >"$e/read-only-dir/inside"
chmod 0000 "$e/no-perm-dir"
chmod 0555 "$e/read-only-dir"
echo "odd" >"$e/odd-mode" && chmod 0604 "$e/odd-mode"
echo "owned" >"$e/owned" && chown 1000:100 "$e/owned"
echo "nobody" >"$e/nobody" && chown 65534:65534 "$e/nobody"
echo "unicode" >"$e/ünïcødé-名前"

tar_layer() { # dir out.tar: as docker would, sorted, with xattrs and sparse files
	tar --create --file "$2" --directory "$1" --format=posix --xattrs --xattrs-include='*' \
		--sparse --numeric-owner --sort=name --mtime=2024-01-01 --pax-option=delete=atime,delete=ctime .
}
tar_layer "$l1" "$work/1.tar"
tar_layer "$l2" "$work/2.tar"

# Layers 3 and 4 hold what a directory on disk cannot: whiteout files and
# a hardlink to a file of a lower layer. (An entry given twice is valid
# tar, but podman refuses such a layer, and tiny must round-trip through
# podman; the rootfs-cache tests craft that case themselves.)
python3 - "$work/3.tar" "$work/4.tar" <<'EOF'
import io, sys, tarfile
def add(tar, name, data=b"", mode=0o644, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.linkname = kind, mode, 1704067200, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    add(t, "edge/.wh.empty")                       # delete a file of layer 2
    add(t, ".wh.to-delete")                        # delete a directory of layer 1
    add(t, "opaque-dir", mode=0o755, kind=tarfile.DIRTYPE)
    add(t, "opaque-dir/.wh..wh..opq")              # hide a and b of layer 1
    add(t, "opaque-dir/c", b"c\n")
    add(t, "bin", mode=0o755, kind=tarfile.DIRTYPE)
    add(t, "bin/busybox-hardlink", kind=tarfile.LNKTYPE, link="bin/busybox")  # to layer 1
with tarfile.open(sys.argv[2], "w", format=tarfile.PAX_FORMAT) as t:
    add(t, "etc", mode=0o755, kind=tarfile.DIRTYPE)
    add(t, "etc/motd", b"upper layer content\n")   # replace a file of layer 1
    add(t, "etc/hostname", b"tiny\n")
EOF

config='{"Cmd":["/bin/sh"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/","Labels":{"org.vce.test":"tiny"}}'
layers=("$work/1.tar" "$work/2.tar" "$work/3.tar" "$work/4.tar")
for c in gzip zstd; do
	python3 "$here/mkoci.py" --out "$out/layout-$c" --ref tiny:latest --compress $c \
		--config-json "$config" "${layers[@]}"
	skopeo --insecure-policy copy -q "oci:$out/layout-$c:tiny:latest" "oci-archive:$out/oci-$c.tar:tiny:latest"
done
skopeo --insecure-policy copy -q "oci:$out/layout-gzip:tiny:latest" "docker-archive:$out/docker.tar:tiny:latest"
gzip -c "$out/docker.tar" >"$out/docker.tar.gz"
zstd -q -c "$out/docker.tar" >"$out/docker.tar.zst"
python3 "$here/mkoci.py" --docker-multi "$out/docker.tar" "$out/docker-multi.tar"
chmod -R a+rX "$out"
echo "$stamp" >"$out/.stamp"
