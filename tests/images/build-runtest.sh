#!/bin/bash
# Builds the `runtest` image the run tests use: busybox, a static probe
# (tests/integration/probe.c) that tries what a container must not do, a
# student user (jovyan, 1000:100, as in Jupyter images), and the traps of
# CVE-2021-30465: symlinks that lead to / and above it.
#
# Config as a course image has it: User 1000, WorkingDir /home/jovyan, Env,
# Entrypoint and Cmd, StopSignal.
#
# Output (built once per machine, rebuilt when this script or the probe
# changes): $VCE_TEST_IMAGES/runtest/oci.tar   an OCI archive
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
probe=$here/../integration/probe.c
out=${VCE_TEST_IMAGES:-/var/tmp/vce-test-images}/runtest
stamp=$(cat "$here/build-runtest.sh" "$here/mkoci.py" "$probe" | sha256sum | cut -c1-16)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
	exit 0
fi
echo "building test image runtest in $out"
work=$(mktemp -d /var/tmp/vce-runtest-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"

root=$work/root
mkdir -p "$root"/{bin,etc,tmp,root,home/jovyan/work,usr/bin,probe}
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
cp /bin/busybox "$root/bin/busybox"
for app in $(busybox --list); do
	[ "$app" = busybox ] || ln -sf busybox "$root/bin/$app"
done
gcc -static -O1 -o "$root/probe/probe" "$probe"
printf 'root:x:0:0:root:/root:/bin/sh\njovyan:x:1000:100::/home/jovyan:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nusers:x:100:\nextra:x:200:jovyan\nnogroup:x:65534:\n' >"$root/etc/group"
ln -s / "$root/to-root"
ln -s ../../../../.. "$root/to-above"
ln -s /home/jovyan/work "$root/work-link"

tar --numeric-owner -C "$root" -cf "$work/1.tar" --owner=0 --group=0 --exclude=./home .
tar --numeric-owner -C "$root" -cf "$work/2.tar" --owner=1000 --group=100 ./home
config='{"User":"1000","WorkingDir":"/home/jovyan","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","COURSE=tm351"],"Entrypoint":["/bin/sh","-c","echo entry \"$@\"; exec \"$@\"","entry"],"Cmd":["echo","default cmd"],"StopSignal":"SIGINT","Labels":{"org.vce.test":"runtest"}}'
python3 "$here/mkoci.py" --out "$work/layout" --ref runtest:latest --compress gzip \
	--config-json "$config" "$work/1.tar" "$work/2.tar"
skopeo --insecure-policy copy -q "oci:$work/layout:runtest:latest" "oci-archive:$out/oci.tar:runtest:latest"
chmod -R a+rX "$out"
echo "$stamp" >"$out/.stamp"
