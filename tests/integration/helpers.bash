# Shared by the integration tests. Each test gets a fresh store root.
#   VCE          the binary under test (make check runs the suite with the
#                plain build and again with the ASan+UBSan build)
#   IMAGES       where tests/images/build-*.sh put the test images

bats_require_minimum_version 1.5.0

VCE=${VCE:-$BATS_TEST_DIRNAME/../../build/native/vce}
IMAGES=${VCE_TEST_IMAGES:-/var/tmp/vce-test-images}
TINY=$IMAGES/tiny
JUPYTER=$IMAGES/jupyter

setup() {
	export VCE_ROOT=$BATS_TEST_TMPDIR/store
	unset VCE_NO_OPENAT2_OVERRIDE
}

vce() {
	"$VCE" "$@"
}

# The store's state, minus the lock file and the compiled seccomp filters
# (a cache any run may fill): a test of bad input compares it before and
# after.
store_state() {
	(
		cd "$VCE_ROOT" || exit 1
		find . \( -path ./lock -o -path ./seccomp \) -prune -o -printf '%p %s %m\n' |
			LC_ALL=C sort
		[ -f images.json ] && cat images.json
	) | sha256sum
}

# run_fails_cleanly CMD...: the command fails, says so in one line on
# stderr that names what is wrong, and leaves the store as it was.
run_fails_cleanly() {
	local before
	before=$(store_state)
	run --separate-stderr "$@"
	if [ "$status" -eq 0 ]; then
		echo "expected failure, got success; stdout: $output" >&2
		return 1
	fi
	if [ "$(printf '%s\n' "$stderr" | wc -l)" -ne 1 ] || [ -z "$stderr" ]; then
		echo "expected one line on stderr, got: $stderr" >&2
		return 1
	fi
	if [ "$(store_state)" != "$before" ]; then
		echo "the store changed" >&2
		return 1
	fi
	if [ -n "$(ls -A "$VCE_ROOT/tmp" 2>/dev/null)" ]; then
		echo "leftovers in $VCE_ROOT/tmp: $(ls -A "$VCE_ROOT/tmp")" >&2
		return 1
	fi
}

image_id() {
	vce image inspect "$1" | jq -r '.[0].Id'
}

# A podman with a private store, so tests neither see nor touch the host's.
# vfs, not overlay: podman's overlay driver cannot apply a layer holding a
# hardlink to a file of a lower layer, which the OCI spec allows and tiny has.
podman_private() {
	podman --root "$BATS_TEST_TMPDIR/podman" --runroot "$BATS_TEST_TMPDIR/podman-run" \
		--storage-driver vfs "$@"
}

home_of() { # user
	getent passwd "$1" | cut -d: -f6
}

# Rootless: run vce as an unprivileged test user (made by tests/setup-users.sh)
# with its own store under its home, as a student would.
as_user() {
	local user=$1
	shift
	local home
	home=$(home_of "$user")
	runuser -u "$user" -- env -i HOME="$home" PATH=/usr/bin:/bin LANG=C.UTF-8 "$@"
}

# A copy of vce the test users may run, and their stores with tiny and
# runtest loaded (setup_file of the rootless suites); and the cleanup.
rootless_setup() {
	export ROOTLESS_VCE
	ROOTLESS_VCE=$(mktemp -d /var/tmp/vce-rootless-bin.XXXXXX)/vce
	cp "$VCE" "$ROOTLESS_VCE"
	chmod -R a+rX "$(dirname "$ROOTLESS_VCE")"
	for user in vcetest vcetest-nosub; do
		home=$(home_of "$user")
		rm -rf "$home/.local/share/vce" "$home/course"
		user_vce "$user" load -q -i "$TINY/oci-zstd.tar"
		user_vce "$user" load -q -i "$IMAGES/runtest/oci.tar"
	done
}

# Every container of the test users, running or not, goes.
remove_user_containers() {
	for user in vcetest vcetest-nosub; do
		for id in $(user_vce "$user" ps -aq 2>/dev/null); do
			user_vce "$user" rm -f "$id" >/dev/null 2>&1
		done
	done
}

no_outbound_tool_of() { # user
	! pgrep -u "$1" -f "pasta|slirp4netns" >/dev/null
}

rootless_teardown() {
	remove_user_containers
	for user in vcetest vcetest-nosub; do
		home=$(home_of "$user")
		rm -rf "$home/.local/share/vce" "$home/course"
	done
	rm -rf "$(dirname "$ROOTLESS_VCE")"
	# no container's way out outlives it
	for user in vcetest vcetest-nosub; do
		if ! wait_for 30 no_outbound_tool_of "$user"; then
			echo "left running: $(pgrep -a -u "$user" -f "pasta|slirp4netns")" >&2
			return 1
		fi
	done
}

# wait_for TRIES CMD...: until CMD succeeds, a tenth of a second apart.
wait_for() {
	local tries=$1
	shift
	for _ in $(seq "$tries"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

user_vce() {
	local user=$1
	shift
	as_user "$user" "$ROOTLESS_VCE" "$@"
}

# umoci's unpack of a test image's gzip layout, made once per machine (and
# again when the image is rebuilt): what vce's layers must add up to.
umoci_reference() { # image-dir tag
	local dir=$1 tag=$2 ref=$1/umoci-reference
	if [ ! -f "$ref/.stamp" ] || [ "$(cat "$ref/.stamp")" != "$(cat "$dir/.stamp")" ]; then
		rm -rf "$ref"
		umoci unpack --image "$dir/layout-gzip:$tag" "$ref" >/dev/null
		chmod 755 "$ref"
		cp "$dir/.stamp" "$ref/.stamp"
	fi
	echo "$ref/rootfs"
}

# The overlay lowerdir list of an image in a store, top layer first.
store_lowerdirs() { # store image [vce...]
	local store=$1 image=$2
	shift 2
	"${@:-$VCE}" --root "$store" image inspect "$image" |
		jq -r '.[0].RootFS.Layers | reverse | .[]' |
		sed "s|^sha256:|$store/rootfs-cache/|; s|$|/rootfs|" | paste -sd:
}

# with_loopback_resolver CMD...: CMD in a mount namespace whose
# /etc/resolv.conf names only a resolver on the host's loopback, as on a
# laptop with dnsmasq: a DNS server for tests at 127.0.0.77 that answers
# every name with 192.0.2.77.
with_loopback_resolver() {
	local dns rc=0
	/usr/bin/python3 "$BATS_TEST_DIRNAME/../tools/dns.py" 127.0.0.77 53 192.0.2.77 \
		>"$BATS_TEST_TMPDIR/dns.log" 2>&1 &
	dns=$!
	wait_for 50 grep -q ready "$BATS_TEST_TMPDIR/dns.log"
	echo "nameserver 127.0.0.77" >"$BATS_TEST_TMPDIR/resolv.conf"
	unshare -m sh -c 'for f in /etc/resolv.conf /run/systemd/resolve/resolv.conf; do
			[ ! -e "$f" ] || mount --bind "$0" "$f" || exit 1
		done; exec "$@"' "$BATS_TEST_TMPDIR/resolv.conf" "$@" || rc=$?
	kill "$dns"
	return "$rc"
}
