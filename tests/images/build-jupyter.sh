#!/bin/bash
# Builds the `jupyter` test image from Debian packages, as a course team's
# Dockerfile on Jupyter docker-stacks would, in four layers:
#   1. debootstrap --variant=minbase bookworm
#   2. python3-notebook with its recommends, and sudo (most of the bytes)
#   3. the user jovyan (uid 1000, gid 100) and the start scripts of jupyter/:
#      docker-stacks' contract (NB_UID, NB_GID, CHOWN_HOME) and nbhosting's
#      start-in-dir-as-uid.sh
#   4. the course content: notebooks in /home/jovyan/notebooks
# and `jupyter-pg` (in pg/), a course of two services: those four layers
# and PostgreSQL 15 with a role jovyan (password jovyan) owning a database
# course, started with the notebook server by start-course.sh as root.
# Layers 2-5 are captured as overlayfs upper directories and turned into
# OCI layer tars (overlay whiteouts become .wh. files, opaque directories
# .wh..wh..opq), which is what `docker build` does.
#
# Output, like tiny's: layout-gzip/ layout-zstd/ oci-gzip.tar oci-zstd.tar
# docker.tar, under $VCE_TEST_IMAGES/jupyter (built once per machine).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${VCE_TEST_IMAGES:-/var/tmp/vce-test-images}/jupyter
stamp=$(cat "$here/build-jupyter.sh" "$here/mkoci.py" "$here"/jupyter/* | sha256sum | cut -c1-16)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
	exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-jupyter.sh: run as root" >&2; exit 1; }
echo "building test image jupyter in $out (debootstrap and python3-notebook: a few minutes)"
work=$(mktemp -d /var/tmp/vce-jupyter-build.XXXXXX)
cleanup() {
	for m in "$work"/merged/{proc,dev,sys,scripts} "$work"/merged; do
		mountpoint -q "$m" 2>/dev/null && umount -l "$m"
	done
	rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$out"
mkdir -p "$out"

# The mirror this machine's apt uses, so the image comes from where apt's do.
mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' 2>/dev/null |
	grep -v security | head -n1)
mirror=${mirror:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
[ -n "$mirror" ] || { echo "build-jupyter.sh: cannot tell which Debian mirror apt uses" >&2; exit 1; }

base=$work/base
debootstrap --variant=minbase bookworm "$base" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -20 "$work/debootstrap.log" >&2; exit 1; }
rm -rf "$base"/var/cache/apt/archives/*.deb "$base"/var/lib/apt/lists/*

lowers=$base
layer_n=1
# run_layer NAME SCRIPT: runs SCRIPT in a chroot over the layers so far,
# capturing what it changes as the next layer.
run_layer() {
	local upper=$work/upper$layer_n wdir=$work/work$layer_n merged=$work/merged
	mkdir -p "$upper" "$wdir" "$merged"
	mount -t overlay overlay -o "lowerdir=$lowers,upperdir=$upper,workdir=$wdir" "$merged"
	mount -t proc proc "$merged/proc"
	mount --rbind /dev "$merged/dev"
	mkdir -p "$merged/scripts"
	mount --bind "$here/jupyter" "$merged/scripts"
	cp /etc/resolv.conf "$merged/etc/resolv.conf" 2>/dev/null || true
	chroot "$merged" /bin/sh -ec "$2"
	umount -l "$merged/dev" "$merged/proc" "$merged/scripts"
	rmdir "$merged/scripts"
	umount "$merged"
	lowers=$upper:$lowers
	layer_n=$((layer_n + 1))
}

run_layer packages "
	echo 'deb $mirror bookworm main' >/etc/apt/sources.list
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		python3-notebook sudo ca-certificates >/dev/null
	apt-get clean
	rm -rf /var/lib/apt/lists/*"

run_layer user "
	groupadd -f -g 100 users 2>/dev/null || true
	useradd -m -s /bin/bash -N -u 1000 -g 100 jovyan
	chmod g+w /etc/passwd
	mkdir -p /usr/local/bin /home/jovyan/work
	cp /scripts/start-notebook.sh /scripts/start-in-dir-as-uid.sh /usr/local/bin/
	chmod 755 /usr/local/bin/*.sh
	chown -R 1000:100 /home/jovyan"

run_layer course "
	mkdir -p /home/jovyan/notebooks
	for n in 01-intro 02-data 03-sql; do
		cat >/home/jovyan/notebooks/\$n.ipynb <<EOS
{\"cells\":[{\"cell_type\":\"markdown\",\"metadata\":{},\"source\":[\"# Course notebook \$n\"]},
{\"cell_type\":\"code\",\"execution_count\":null,\"metadata\":{},\"outputs\":[],\"source\":[\"print(6 * 7)\"]}],
\"metadata\":{},\"nbformat\":4,\"nbformat_minor\":5}
EOS
	done
	chown -R 1000:100 /home/jovyan/notebooks"

# The course image: PostgreSQL beside the notebook server, one start script.
# policy-rc.d: the package must not start a server in the chroot (it would
# listen on the host's port 5432). The role and database are made in
# single-user mode, which opens no socket at all.
run_layer postgresql "
	printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql python3-psycopg2 >/dev/null
	apt-get clean
	rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
	runuser -u postgres -- /usr/lib/postgresql/15/bin/postgres --single \
		-D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf \
		postgres >/dev/null <<SQL
CREATE ROLE jovyan LOGIN PASSWORD 'jovyan';
CREATE DATABASE course OWNER jovyan;
SQL
	cp /scripts/start-course.sh /usr/local/bin/
	chmod 755 /usr/local/bin/start-course.sh"

# Overlay upper dirs -> OCI layer tars.
to_oci_layer() { # dir out.tar
	local dir=$1
	rm -f "$dir/etc/resolv.conf"
	# Whiteouts: char 0:0 devices -> .wh.NAME; opaque dirs -> .wh..wh..opq.
	find "$dir" -type c | while read -r dev; do
		if [ "$(stat -c '%t:%T' "$dev")" = "0:0" ]; then
			rm -f "$dev"
			: >"$(dirname "$dev")/.wh.$(basename "$dev")"
		fi
	done
	find "$dir" -type d | while read -r d; do
		if [ "$(getfattr --only-values -n trusted.overlay.opaque "$d" 2>/dev/null)" = y ]; then
			setfattr -x trusted.overlay.opaque "$d"
			: >"$d/.wh..wh..opq"
		fi
	done
	# mtimes as they are, as docker build keeps them: a .py file must keep
	# the mtime its .pyc was compiled against, or Python finds every .pyc
	# stale and compiles at each start (seconds for the notebook server)
	# with no right to keep the result.
	tar --create --file "$2" --directory "$dir" --format=posix --xattrs \
		--xattrs-include='security.capability' --numeric-owner --sort=name \
		--pax-option=delete=atime,delete=ctime .
}
to_oci_layer "$base" "$work/1.tar"
for i in 1 2 3 4; do
	to_oci_layer "$work/upper$i" "$work/$((i + 1)).tar"
done
rm -rf "$base" "$work"/upper* "$work"/work*

config='{"User":"1000","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NB_USER=jovyan","NB_UID=1000","NB_GID=100","HOME=/home/jovyan"],"Cmd":["start-notebook.sh"],"WorkingDir":"/home/jovyan","ExposedPorts":{"8888/tcp":{}},"Labels":{"org.vce.test":"jupyter"}}'
layers=("$work/1.tar" "$work/2.tar" "$work/3.tar" "$work/4.tar")
for c in gzip zstd; do
	python3 "$here/mkoci.py" --out "$out/layout-$c" --ref jupyter:latest --compress $c \
		--config-json "$config" "${layers[@]}"
	skopeo --insecure-policy copy -q "oci:$out/layout-$c:jupyter:latest" "oci-archive:$out/oci-$c.tar:jupyter:latest"
done
skopeo --insecure-policy copy -q "oci:$out/layout-gzip:jupyter:latest" "docker-archive:$out/docker.tar:jupyter:latest"

# jupyter-pg: the jupyter image's layers and PostgreSQL's, started as root.
config='{"User":"root","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NB_USER=jovyan","NB_UID=1000","NB_GID=100","HOME=/home/jovyan"],"Cmd":["start-course.sh"],"WorkingDir":"/home/jovyan","ExposedPorts":{"8888/tcp":{},"5432/tcp":{}},"Labels":{"org.vce.test":"jupyter-pg"}}'
python3 "$here/mkoci.py" --out "$out/pg/layout-gzip" --ref jupyter-pg:latest --compress gzip \
	--config-json "$config" "${layers[@]}" "$work/5.tar"
skopeo --insecure-policy copy -q "oci:$out/pg/layout-gzip:jupyter-pg:latest" \
	"oci-archive:$out/pg/oci-gzip.tar:jupyter-pg:latest"
chmod -R a+rX "$out"
echo "$stamp" >"$out/.stamp"
du -sh "$out"/*
