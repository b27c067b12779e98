#!/usr/bin/env bats
# The image store as a student without root: one user with a subordinate id
# range, one without. Each keeps its store under its own home.
load helpers

setup_file() {
	# The binary where the test users can run it, whatever the clone's path.
	export ROOTLESS_VCE
	ROOTLESS_VCE=$(mktemp -d /var/tmp/vce-rootless-bin.XXXXXX)/vce
	cp "$VCE" "$ROOTLESS_VCE"
	chmod -R a+rX "$(dirname "$ROOTLESS_VCE")"
}

teardown_file() {
	rm -rf "$(dirname "$ROOTLESS_VCE")"
}

setup() {
	for user in vcetest vcetest-nosub; do
		home=$(home_of "$user")
		rm -rf "$home/.local/share/vce" "$home/out"
	done
}

@test "rootless: the store defaults to ~/.local/share/vce" {
	for user in vcetest vcetest-nosub; do
		run user_vce "$user" load -i "$TINY/oci-zstd.tar"
		[ "$status" -eq 0 ]
		[ "$output" = "Loaded image: tiny:latest" ]
		home=$(home_of "$user")
		[ -f "$home/.local/share/vce/images.json" ]
		[ "$(stat -c %U "$home/.local/share/vce/images.json")" = "$user" ]
	done
}

@test "rootless: XDG_DATA_HOME moves the store" {
	home=$(home_of vcetest)
	run as_user vcetest env XDG_DATA_HOME="$home/xdg" "$ROOTLESS_VCE" load -q -i "$TINY/docker.tar"
	[ "$status" -eq 0 ]
	[ -f "$home/xdg/vce/images.json" ]
	rm -rf "$home/xdg"
}

@test "rootless: every form loads, lists, saves and round-trips" {
	for user in vcetest vcetest-nosub; do
		home=$(home_of "$user")
		for form in docker.tar docker.tar.gz oci-gzip.tar layout-zstd docker-multi.tar; do
			run user_vce "$user" load -q -i "$TINY/$form"
			[ "$status" -eq 0 ] || { echo "$user $form: $output"; false; }
		done
		[ "$(user_vce "$user" images -q | wc -l)" -eq 2 ]
		as_user "$user" mkdir -p "$home/out"
		user_vce "$user" save -o "$home/out/tiny.tar" tiny
		user_vce "$user" save --format oci-archive -o "$home/out/tiny-oci.tar" tiny
		user_vce "$user" rmi tiny tiny:multi-a tiny:multi-b example.org/course/tiny:2
		[ "$(user_vce "$user" images -q | wc -l)" -eq 0 ]
		user_vce "$user" load -q -i "$home/out/tiny.tar"
		user_vce "$user" load -q -i "$home/out/tiny-oci.tar"
		[ "$(user_vce "$user" images -q | wc -l)" -eq 1 ]
	done
}

@test "rootless: a file the user cannot read is one clear line" {
	run --separate-stderr user_vce vcetest load -i /etc/shadow
	[ "$status" -eq 1 ]
	[ "$stderr" = "vce: cannot open /etc/shadow: Permission denied" ]
}

@test "rootless: the root store is not the user's" {
	run --separate-stderr user_vce vcetest --root /var/lib/vce-root-only images
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"cannot use /var/lib/vce-root-only as the store"* ]]
}

# The user's cached layers, mounted by root with userxattr (the rootless
# overlay format), compared with umoci's unpack. Device nodes are not made
# rootless; a capability set in a user namespace is stored as a v3 xattr.
compare_rootless() { # user tiny|jupyter idmap|--ignore-owner
	local user=$1 image=$2 owners=$3 home store want lower mnt=$BATS_TEST_TMPDIR/mnt
	home=$(home_of "$user")
	store=$home/.local/share/vce
	if [ "$image" = tiny ]; then want=$(umoci_reference "$TINY" tiny:latest)
	else want=$(umoci_reference "$JUPYTER" jupyter:latest); fi
	lower=$(store_lowerdirs "$store" "$image")
	mkdir -p "$mnt"
	mount -t overlay overlay -o "ro,userxattr,lowerdir=$lower" "$mnt"
	run python3 "$BATS_TEST_DIRNAME/../tools/treecmp.py" "$want" "$mnt" $owners \
		--allow-missing-devices --ignore-xattr security.capability
	umount "$mnt"
	[ "$status" -eq 0 ] || { echo "$output" | tail -20; false; }
}

idmap_of() { # user: inner:outer:count for its user namespace
	local uid start count
	uid=$(id -u "$1")
	read -r start count < <(awk -F: -v u="$1" '$1 == u { print $2, $3; exit }' /etc/subuid)
	echo "0:$uid:1,1:$start:$count"
}

@test "rootless with a subordinate range: layers keep their owners and match umoci" {
	user_vce vcetest load -q -i "$TINY/layout-gzip"
	compare_rootless vcetest tiny "--map-ids $(idmap_of vcetest)"
	store=$(getent passwd vcetest | cut -d: -f6)/.local/share/vce
	# image uid 1000 is range start + 999 on the host
	start=$(awk -F: '$1 == "vcetest" { print $2; exit }' /etc/subuid)
	top2=$(user_vce vcetest image inspect tiny | jq -r '.[0].RootFS.Layers[1]')
	[ "$(stat -c %u "$store/rootfs-cache/${top2#sha256:}/rootfs/edge/owned")" -eq $((start + 999)) ]
	# whiteouts and opaque directories in the rootless format
	top3=$(user_vce vcetest image inspect tiny | jq -r '.[0].RootFS.Layers[2]')
	l3=$store/rootfs-cache/${top3#sha256:}/rootfs
	[ "$(stat -c '%F %t:%T' "$l3/edge/empty")" = "character special file 0:0" ]
	[ "$(getfattr --only-values -n user.overlay.opaque "$l3/opaque-dir")" = y ]
	# the capability, read inside the user's namespace
	run as_user vcetest unshare --map-auto --map-root-user /usr/sbin/getcap "$store/rootfs-cache/${top2#sha256:}/rootfs/edge/cap-file"
	[[ "$output" == *"cap_net_raw=ep"* ]]
}

@test "rootless without a range: every file belongs to the user, and matches umoci" {
	user_vce vcetest-nosub load -q -i "$TINY/oci-zstd.tar"
	compare_rootless vcetest-nosub tiny --ignore-owner
	store=$(getent passwd vcetest-nosub | cut -d: -f6)/.local/share/vce
	[ -z "$(find "$store/rootfs-cache" ! -user vcetest-nosub | head -1)" ]
	jq -e '.owners == "user"' "$store"/rootfs-cache/*/info.json >/dev/null
}

@test "rootless: rmi removes layers owned by subordinate ids" {
	user_vce vcetest load -q -i "$TINY/docker-multi.tar"
	store=$(getent passwd vcetest | cut -d: -f6)/.local/share/vce
	[ "$(ls "$store/rootfs-cache" | wc -l)" -eq 4 ]
	user_vce vcetest rmi tiny:multi-a tiny:multi-b example.org/course/tiny:2
	[ -z "$(ls -A "$store/rootfs-cache")" ]
}

@test "rootless: hostile layers write nothing outside" {
	mkdir -p /tmp/vce-hostile && chmod 1777 /tmp/vce-hostile
	for user in vcetest vcetest-nosub; do
		for case in traversal absolute symlink-file symlink-relative symlink-chain dir-to-symlink \
			hardlink-shadow hardlink-up gzip-bomb truncated; do
			run --separate-stderr user_vce "$user" load -i "$IMAGES/hostile/$case"
			[ "$status" -eq 1 ] || { echo "$user $case: $output"; false; }
			[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
			[ -z "$(ls -A /tmp/vce-hostile)" ] || { echo "$user $case wrote outside"; false; }
		done
		store=$(getent passwd "$user" | cut -d: -f6)/.local/share/vce
		[ -z "$(ls -A "$store/rootfs-cache")" ]
		[ -z "$(ls -A "$store/tmp")" ]
	done
}

@test "rootless: the jupyter image unpacks as umoci does, owners kept" {
	[ -z "$VCE_SANITIZED" ] || skip "slow; run in the plain pass"
	user_vce vcetest load -q -i "$JUPYTER/oci-zstd.tar"
	compare_rootless vcetest jupyter "--map-ids $(idmap_of vcetest)"
}
