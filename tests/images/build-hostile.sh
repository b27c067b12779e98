#!/bin/bash
# Builds the hostile corpus: OCI images (gzip layers, valid digests) whose
# layers try to write outside themselves, or to exhaust the machine. Every
# one must end in a clear error with nothing written outside the layer.
# Escapes aim at /tmp/vce-hostile (mode 1777, so a rootless run could
# write there if vce let it) and at /etc/shadow.
#
#   traversal         ../../../../../../tmp/vce-hostile/escaped
#   absolute          /tmp/vce-hostile/escaped
#   symlink-file      link -> /tmp/vce-hostile, then link/escaped
#   symlink-relative  up -> ../../../../../../tmp/vce-hostile, then up/escaped
#   symlink-chain     a -> /b, b -> /c, c -> /tmp/vce-hostile, then a/escaped
#   dir-to-symlink    d/, then d -> /tmp/vce-hostile, then d/escaped
#   hardlink-shadow   shadow => /etc/shadow
#   hardlink-up       shadow => ../../../../../../etc/shadow
#   tar-bomb          1,000,001 empty files
#   gzip-bomb         a file whose header claims 1 TiB
#   truncated         the last file's data cut short
# And one that is valid but that tiny cannot hold (podman refuses it):
#   twice             entries given twice (the last wins), a file replacing
#                     a directory and a directory replacing a file
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${VCE_TEST_IMAGES:-/var/tmp/vce-test-images}/hostile
stamp=$(cat "$here/build-hostile.sh" "$here/mkoci.py" | sha256sum | cut -c1-16)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
	exit 0
fi
echo "building the hostile test corpus in $out"
work=$(mktemp -d /var/tmp/vce-hostile-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"

python3 - "$work" <<'EOF'
import io, os, sys, tarfile
work = sys.argv[1]
T = "/tmp/vce-hostile"
UP = "../../../../../.."

def entry(name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644, size=None):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.linkname = kind, mode, 1704067200, link
    info.size = len(data) if size is None else size
    return info, data

def write(case, entries):
    with open(os.path.join(work, case + ".tar"), "wb") as f:
        with tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as t:
            for info, data in entries:
                t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)

evil = b"written by a hostile layer\n"
write("traversal", [entry(UP + T + "/escaped", data=evil)])
write("absolute", [entry(T + "/escaped", data=evil)])
write("symlink-file", [entry("link", tarfile.SYMTYPE, link=T),
                       entry("link/escaped", data=evil)])
write("symlink-relative", [entry("up", tarfile.SYMTYPE, link=UP + T),
                           entry("up/escaped", data=evil)])
write("symlink-chain", [entry("a", tarfile.SYMTYPE, link="/b"), entry("b", tarfile.SYMTYPE, link="/c"),
                        entry("c", tarfile.SYMTYPE, link=T), entry("a/escaped", data=evil)])
write("dir-to-symlink", [entry("d", tarfile.DIRTYPE, mode=0o777), entry("d", tarfile.SYMTYPE, link=T),
                         entry("d/escaped", data=evil)])
write("hardlink-shadow", [entry("shadow", tarfile.LNKTYPE, link="/etc/shadow")])
write("hardlink-up", [entry("shadow", tarfile.LNKTYPE, link=UP + "/etc/shadow")])

write("twice", [entry("etc", tarfile.DIRTYPE, mode=0o755), entry("etc/twice", data=b"first\n"),
                 entry("etc/twice", data=b"second wins\n", mode=0o600),
                 entry("was-dir", tarfile.DIRTYPE, mode=0o755), entry("was-dir/inner", data=b"x"),
                 entry("was-dir", data=b"now a file\n"),
                 entry("was-file", data=b"a file\n"), entry("was-file", tarfile.DIRTYPE, mode=0o750),
                 entry("was-file/inner", data=b"inside\n"),
                 entry("link", tarfile.SYMTYPE, link="etc"), entry("link", tarfile.SYMTYPE, link="was-file")])

# A header claiming 1 TiB: tarfile would want the data, so write it raw.
info, _ = entry("huge", size=1 << 40)
with open(os.path.join(work, "gzip-bomb.tar"), "wb") as f:
    f.write(info.tobuf(tarfile.PAX_FORMAT))
    f.write(b"\0" * (1 << 20))

# The last file declares 10000 bytes and has 100, and nothing follows.
with open(os.path.join(work, "truncated.tar"), "wb") as f:
    i, d = entry("first", data=b"ok\n")
    f.write(i.tobuf(tarfile.USTAR_FORMAT) + d + b"\0" * (512 - len(d)))
    i, _ = entry("last", size=10000)
    f.write(i.tobuf(tarfile.USTAR_FORMAT) + b"x" * 100)

# 1,000,001 empty files, headers made by hand: tarfile is too slow for it.
template = bytearray(entry("f/0000000", mode=0o644)[0].tobuf(tarfile.USTAR_FORMAT))
with open(os.path.join(work, "tar-bomb.tar"), "wb") as f:
    buf = bytearray()
    for n in range(1000001):
        h = bytearray(template)
        name = b"f/%07d" % n
        h[0:len(name)] = name
        h[148:156] = b"        "
        h[148:156] = b"%06o\0 " % sum(h)
        buf += h
        if len(buf) >= 1 << 24:
            f.write(buf)
            buf = bytearray()
    f.write(buf + b"\0" * 1024)
EOF

for case in traversal absolute symlink-file symlink-relative symlink-chain dir-to-symlink \
	hardlink-shadow hardlink-up tar-bomb gzip-bomb truncated twice; do
	python3 "$here/mkoci.py" --out "$out/$case" --ref "hostile:$case" --compress gzip \
		--config-json '{"Cmd":["/bin/sh"]}' "$work/$case.tar"
	rm -f "$work/$case.tar"
done
chmod -R a+rX "$out"
echo "$stamp" >"$out/.stamp"
