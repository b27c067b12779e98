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
		home=$(getent passwd "$user" | cut -d: -f6)
		rm -rf "$home/.local/share/vce" "$home/out"
	done
}

@test "rootless: the store defaults to ~/.local/share/vce" {
	for user in vcetest vcetest-nosub; do
		run user_vce "$user" load -i "$TINY/oci-zstd.tar"
		[ "$status" -eq 0 ]
		[ "$output" = "Loaded image: tiny:latest" ]
		home=$(getent passwd "$user" | cut -d: -f6)
		[ -f "$home/.local/share/vce/images.json" ]
		[ "$(stat -c %U "$home/.local/share/vce/images.json")" = "$user" ]
	done
}

@test "rootless: XDG_DATA_HOME moves the store" {
	home=$(getent passwd vcetest | cut -d: -f6)
	run as_user vcetest env XDG_DATA_HOME="$home/xdg" "$ROOTLESS_VCE" load -q -i "$TINY/docker.tar"
	[ "$status" -eq 0 ]
	[ -f "$home/xdg/vce/images.json" ]
	rm -rf "$home/xdg"
}

@test "rootless: every form loads, lists, saves and round-trips" {
	for user in vcetest vcetest-nosub; do
		home=$(getent passwd "$user" | cut -d: -f6)
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
