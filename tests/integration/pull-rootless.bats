#!/usr/bin/env bats
# vce pull as a student without root: the store in the home folder, the
# unpack in a user namespace (with and without a subordinate id range),
# credentials in ~/.docker/config.json.
load helpers
load registry

setup_file() {
	rootless_setup
	registries_start plain:plain token:token
	push "$TINY/oci-gzip.tar" "127.0.0.1:$PORT_plain/tiny:latest"
	push "$TINY/oci-zstd.tar" "127.0.0.1:$PORT_plain/tiny:zstd"
	push "$TINY/oci-gzip.tar" "127.0.0.1:$PORT_token/private/tiny:latest" --dest-creds student:secret
}

teardown_file() {
	registries_stop
	rootless_teardown
	for user in vcetest vcetest-nosub; do
		home=$(home_of "$user")
		rm -rf "$home/.docker"
	done
}

teardown() {
	remove_user_containers
}

@test "rootless: pull gzip and zstd images and run them, with and without a subordinate range" {
	for user in vcetest vcetest-nosub; do
		user_vce "$user" pull -q "127.0.0.1:$PORT_plain/tiny:latest"
		user_vce "$user" pull -q "127.0.0.1:$PORT_plain/tiny:zstd"
		[ "$(user_vce "$user" run --rm "127.0.0.1:$PORT_plain/tiny:zstd" echo zstd)" = zstd ]
		run user_vce "$user" run --rm "127.0.0.1:$PORT_plain/tiny" sh -c 'id -u; ls -ln /bin/busybox'
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = 0 ]
		home=$(home_of "$user")
		# everything in the user's store belongs to the user
		[ -z "$(find "$home/.local/share/vce/blobs" ! -user "$user")" ]
		[ -z "$(ls -A "$home/.local/share/vce/downloads")" ]
	done
	# with a subordinate range, owners in the image are kept (root: 0)
	run user_vce vcetest run --rm "127.0.0.1:$PORT_plain/tiny" stat -c %u /bin/busybox
	[ "$output" = 0 ]
}

@test "rootless: login keeps credentials in ~/.docker/config.json, mode 600; pull uses them" {
	reg=127.0.0.1:$PORT_token
	home=$(home_of vcetest)
	run user_vce vcetest pull "$reg/private/tiny"
	[ "$status" -ne 0 ]
	[[ "$output" == *"wants a login"* ]]
	echo secret | user_vce vcetest login -u student --password-stdin "$reg"
	[ "$(stat -c '%U %a' "$home/.docker/config.json")" = "vcetest 600" ]
	user_vce vcetest pull -q "$reg/private/tiny"
	[ "$(user_vce vcetest run --rm "$reg/private/tiny" echo private)" = private ]
	user_vce vcetest logout "$reg"
}
