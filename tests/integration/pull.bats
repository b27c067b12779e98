#!/usr/bin/env bats
# vce pull against Debian's docker-registry on 127.0.0.1: plain HTTP, TLS
# with a CA made here, htpasswd Basic auth, token auth with a small issuer,
# a multi-platform index, and the faults a real registry makes.
load helpers
load registry

setup_file() {
	registries_start plain:plain tls:tls basic:basic token:token fault:plain big:plain
	local tiny=$TINY/oci-gzip.tar
	push "$tiny" "127.0.0.1:$PORT_plain/tiny:latest"
	push "$tiny" "127.0.0.1:$PORT_plain/library/busybox:latest"
	push "$tiny" "127.0.0.1:$PORT_tls/tiny:latest"
	push "$tiny" "127.0.0.1:$PORT_basic/tiny:latest" --dest-creds student:secret
	push "$tiny" "127.0.0.1:$PORT_token/private/tiny:latest" --dest-creds student:secret
	push "$tiny" "127.0.0.1:$PORT_token/public/tiny:latest" --dest-creds student:secret
	push "$tiny" "127.0.0.1:$PORT_fault/tiny:latest"
	push "$JUPYTER/oci-gzip.tar" "127.0.0.1:$PORT_big/jupyter:latest"
	rm -rf "$BATS_FILE_TMPDIR/multi"
	/usr/bin/python3 "$TOOLS/mkindex.py" "$TINY/layout-gzip" "$BATS_FILE_TMPDIR/multi"
	push "$BATS_FILE_TMPDIR/multi:latest" "127.0.0.1:$PORT_plain/multi:latest"
	export FAKE_PORT
	FAKE_PORT=$(free_port)
	/usr/bin/python3 "$TOOLS/fake-registry.py" "$FAKE_PORT" "$PORT_plain" \
		>"$BATS_FILE_TMPDIR/fake.log" 2>&1 &
	echo $! >"$BATS_FILE_TMPDIR/fake.pid"
	wait_for 50 curl -sf "http://127.0.0.1:$FAKE_PORT/v2/"
}

teardown() {
	if mountpoint -q "$BATS_TEST_TMPDIR/small"; then
		umount "$BATS_TEST_TMPDIR/small"
	fi
}

teardown_file() {
	kill "$(cat "$BATS_FILE_TMPDIR/fake.pid")" 2>/dev/null || true
	registries_stop
}

setup() {
	export VCE_ROOT=$BATS_TEST_TMPDIR/store
	# Never the real ~/.docker/config.json or /etc/vce/config.json.
	export REGISTRY_AUTH_FILE=$BATS_TEST_TMPDIR/auth.json
	export VCE_CONFIG=$BATS_TEST_TMPDIR/config.json
	printf '{"certs_dirs": ["%s"]}\n' "$DIR_tls/certs.d" >"$VCE_CONFIG"
	vce images >/dev/null # the store exists: run_fails_cleanly compares it
}

@test "pull: an image from a plain-HTTP registry runs; a second pull downloads nothing" {
	run vce pull "127.0.0.1:$PORT_plain/tiny"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Status: Downloaded newer image for 127.0.0.1:$PORT_plain/tiny:latest"* ]]
	[[ "$output" == *"Digest: sha256:"* ]]
	[ "$(vce run --rm "127.0.0.1:$PORT_plain/tiny" echo pulled)" = pulled ]
	vce images | grep -q "127.0.0.1:$PORT_plain/tiny"
	# the layers and config are in the store as blobs, nothing left behind
	[ -z "$(ls -A "$VCE_ROOT/downloads")" ]
	[ -z "$(ls -A "$VCE_ROOT/tmp")" ]
	before=$(blob_requests "$DIR_plain")
	run vce pull "127.0.0.1:$PORT_plain/tiny"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Status: Image is up to date"* ]]
	[ "$(blob_requests "$DIR_plain")" -eq "$before" ]
	# the same image under another name: its layers are not fetched again
	vce pull -q "127.0.0.1:$PORT_plain/library/busybox"
	[ "$(blob_requests "$DIR_plain")" -eq "$before" ]
	[ "$(image_id "127.0.0.1:$PORT_plain/tiny")" = "$(image_id "127.0.0.1:$PORT_plain/library/busybox")" ]
}

@test "pull: a pulled image is the loaded one: same id, the same cached layers" {
	vce pull -q "127.0.0.1:$PORT_plain/tiny"
	layers_before=$(ls "$VCE_ROOT/rootfs-cache" | grep -vc '^\.')
	run vce --verbose load -i "$TINY/oci-gzip.tar"
	[ "$status" -eq 0 ]
	[[ "$output" != *"unpacked layer"* ]]
	[ "$(ls "$VCE_ROOT/rootfs-cache" | grep -vc '^\.')" -eq "$layers_before" ]
	[ "$(image_id "127.0.0.1:$PORT_plain/tiny")" = "$(image_id tiny:latest)" ]
}

@test "pull: by digest; an index gives this machine's platform, --platform another, a missing one is listed" {
	vce pull -q "127.0.0.1:$PORT_plain/multi"
	[ "$(vce image inspect "127.0.0.1:$PORT_plain/multi" | jq -r '.[0].Architecture')" = amd64 ]
	vce pull -q --platform linux/arm64 "127.0.0.1:$PORT_plain/multi"
	[ "$(vce image inspect "127.0.0.1:$PORT_plain/multi" | jq -r '.[0].Architecture')" = arm64 ]
	vce pull -q --platform linux/aarch64/v8 "127.0.0.1:$PORT_plain/multi"
	run_fails_cleanly vce pull --platform linux/s390x "127.0.0.1:$PORT_plain/multi"
	[[ "$stderr" == *"no image for linux/s390x; it has linux/amd64, linux/arm64/v8"* ]]
	[[ "$stderr" != *unknown* ]]
	run_fails_cleanly vce pull --platform linux/arm64 "127.0.0.1:$PORT_plain/tiny"
	[[ "$stderr" == *"an image for linux/amd64, not linux/arm64"* ]]
	digest=$(vce pull "127.0.0.1:$PORT_plain/tiny" | sed -n 's/^Digest: //p')
	vce pull -q "127.0.0.1:$PORT_plain/tiny@$digest"
	[ "$(vce run --rm "127.0.0.1:$PORT_plain/tiny@$digest" echo by-digest)" = by-digest ]
	run_fails_cleanly vce pull "127.0.0.1:$PORT_plain/tiny@sha256:$(printf '%064d' 0)"
}

@test "pull: a short name means Docker Hub, reached through a mirror from the config file" {
	printf '{"registry_mirrors": {"docker.io": ["http://127.0.0.1:%s"]}}\n' "$PORT_plain" \
		>"$VCE_CONFIG"
	run vce pull busybox
	[ "$status" -eq 0 ]
	[[ "$output" == *"docker.io/library/busybox:latest"* ]]
	[ "$(vce run --rm busybox echo via-mirror)" = via-mirror ]
	vce images | grep -q '^busybox '
}

@test "pull: TLS with the registry's CA from certs.d; without it one line says what to do" {
	vce pull -q "127.0.0.1:$PORT_tls/tiny"
	echo '{}' >"$VCE_CONFIG"
	vce rmi "127.0.0.1:$PORT_tls/tiny" >/dev/null
	run_fails_cleanly vce pull "127.0.0.1:$PORT_tls/tiny"
	[[ "$stderr" == *"certificate"*"certs.d/127.0.0.1:$PORT_tls/ca.crt"* ]]
	printf '{"insecure_registries": ["127.0.0.1:%s"]}\n' "$PORT_tls" >"$VCE_CONFIG"
	vce pull -q "127.0.0.1:$PORT_tls/tiny"
}

@test "pull: Basic auth: refused without a login; login checks the password; logout forgets" {
	printf '{"certs_dirs": ["%s"]}\n' "$DIR_basic/certs.d" >"$VCE_CONFIG"
	reg=127.0.0.1:$PORT_basic
	run_fails_cleanly vce pull "$reg/tiny"
	[[ "$stderr" == *"wants a login"*"vce login $reg"* ]]
	run --separate-stderr vce login -u student -p wrong "$reg"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"refused the username or password"* ]]
	[ ! -e "$REGISTRY_AUTH_FILE" ]
	echo secret | vce login -u student --password-stdin "$reg"
	[ "$(jq -r --arg r "$reg" '.auths[$r].auth' "$REGISTRY_AUTH_FILE" | base64 -d)" = student:secret ]
	[ "$(stat -c %a "$REGISTRY_AUTH_FILE")" = 600 ]
	vce pull -q "$reg/tiny"
	vce logout "$reg"
	[ "$(jq -r --arg r "$reg" '.auths[$r]' "$REGISTRY_AUTH_FILE")" = null ]
	run_fails_cleanly vce logout "$reg"
	[[ "$stderr" == *"not logged in to $reg"* ]]
}

@test "pull: token auth: anonymous for a public repository, a login for a private one" {
	reg=127.0.0.1:$PORT_token
	vce pull -q "$reg/public/tiny"
	run_fails_cleanly vce pull "$reg/private/tiny"
	[[ "$stderr" == *"wants a login"* ]]
	run --separate-stderr vce login -u student -p nope "$reg"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"refused the username or password"* ]]
	# credentials docker wrote (its config.json format) are used as they are
	printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$reg" "$(printf student:secret | base64)" \
		>"$REGISTRY_AUTH_FILE"
	vce pull -q "$reg/private/tiny"
	[ "$(vce run --rm "$reg/private/tiny" echo private)" = private ]
	grep -q 'GET /token?service=vce-test-registry&scope=repository%3Aprivate%2Ftiny%3Apull' \
		"$DIR_token/token.log"
}

@test "run --pull: missing pulls once, never refuses, always asks the registry again" {
	img=127.0.0.1:$PORT_plain/tiny
	run --separate-stderr vce run --rm --pull=never "$img" true
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"not in the store"* ]]
	run --separate-stderr vce run --rm "$img" echo ran
	[ "$status" -eq 0 ]
	[ "$output" = ran ]
	[[ "$stderr" == *"Unable to find image '$img' locally"* ]]
	[[ "$stderr" == *"Downloaded newer image"* ]]
	run --separate-stderr vce run --rm "$img" echo again
	[ "$output" = again ]
	[ -z "$stderr" ]
	run --separate-stderr vce run --rm --pull=always "$img" echo always
	[ "$output" = always ]
	[[ "$stderr" == *"Image is up to date"* ]]
	run --separate-stderr vce run --rm --pull=sometimes "$img" true
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"--pull must be missing, always or never"* ]]
	id=$(vce create --pull=always "$img" true)
	vce rm "$id"
}

@test "pull: bad input and unreachable registries fail in one line and store nothing" {
	reg=127.0.0.1:$PORT_plain
	run_fails_cleanly vce pull "$reg/tiny:nope"
	[[ "$stderr" == *"$reg/tiny:nope not found"* ]]
	run_fails_cleanly vce pull "$reg/nothing-here"
	[[ "$stderr" == *"not found"* ]]
	port=$(free_port)
	run_fails_cleanly vce pull "127.0.0.1:$port/tiny"
	[[ "$stderr" == *"cannot reach"*"127.0.0.1:$port"* ]]
	run_fails_cleanly vce pull "127.0.0.1:$FAKE_PORT/big"
	[[ "$stderr" == *"more than 4194304 bytes"* ]]
	run_fails_cleanly vce pull "UPPER/Case"
	run_fails_cleanly vce pull --platform bogus "$reg/tiny"
	[[ "$stderr" == *"OS/ARCH"* ]]
	run --separate-stderr vce pull
	[ "$status" -eq 2 ]
}

@test "pull: a blob damaged in the registry's storage is refused and not stored" {
	reg=127.0.0.1:$PORT_fault
	layer=$(ls -S "$DIR_fault"/data/docker/registry/v2/blobs/sha256/*/*/data | head -1)
	digest=sha256:$(basename "$(dirname "$layer")")
	cp "$layer" "$BATS_TEST_TMPDIR/good"
	printf 'XXXX' | dd of="$layer" bs=1 seek=1000 conv=notrunc 2>/dev/null
	run --separate-stderr vce pull "$reg/tiny"
	cp "$BATS_TEST_TMPDIR/good" "$layer"
	[ "$status" -ne 0 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"layer $digest from $reg does not match its digest"* ]]
	[ ! -e "$VCE_ROOT/downloads/${digest#sha256:}" ]
	[ ! -e "$VCE_ROOT/blobs/sha256/${digest#sha256:}" ]
	[ -z "$(vce images -q)" ]
	[ -z "$(ls -A "$VCE_ROOT/rootfs-cache" | grep -v '^\.lock')" ]
	[ -z "$(ls -A "$VCE_ROOT/tmp")" ]
	# the registry repaired, the pull completes
	vce pull -q "$reg/tiny"
}

@test "pull: blobs redirected to another host (as to a CDN) are fetched there" {
	vce pull -q "127.0.0.1:$FAKE_PORT/redirect"
	[ "$(vce run --rm "127.0.0.1:$FAKE_PORT/redirect" echo redirected)" = redirected ]
	grep -q '"GET /v2/redirect/blobs/sha256:[0-9a-f]* HTTP/1.1" 307' "$BATS_FILE_TMPDIR/fake.log"
}

@test "pull: the registry killed mid-layer; the next pull resumes where it stopped" {
	reg=127.0.0.1:$PORT_big
	vce pull -q "$reg/jupyter" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	# kill it once 40 MB of the big layer are on disk
	for _ in $(seq 600); do
		size=$(du -sb "$VCE_ROOT/downloads" 2>/dev/null | cut -f1)
		[ "${size:-0}" -gt 40000000 ] && break
		sleep 0.05
	done
	kill -9 "$(cat "$DIR_big/registry.pid")"
	code=0
	wait "$pid" || code=$?
	[ "$code" -ne 0 ]
	[ "$(wc -l <"$BATS_TEST_TMPDIR/err")" -eq 1 ] || { cat "$BATS_TEST_TMPDIR/err"; false; }
	grep -q "run the pull again to resume" "$BATS_TEST_TMPDIR/err"
	[ -z "$(vce images -q)" ]
	"$TOOLS/registry.sh" start "$DIR_big" plain "$PORT_big"
	run vce --verbose pull "$reg/jupyter"
	[ "$status" -eq 0 ]
	[[ "$output" == *"resuming at byte"* ]]
	grep -q '"GET /v2/jupyter/blobs/sha256:[0-9a-f]* HTTP/1.1" 206 ' "$DIR_big/registry.log"
	[ "$(vce run --rm "$reg/jupyter" python3 -c 'print(6*7)')" = 42 ]
	[ -z "$(ls -A "$VCE_ROOT/downloads")" ]
}

@test "pull: a full disk fails in one line; image prune clears what it left" {
	mnt=$BATS_TEST_TMPDIR/small
	mkdir -p "$mnt"
	mount -t tmpfs -o size=120m tmpfs "$mnt"
	# (the resume test stops this registry; if it failed half-way, start it)
	curl -sf "http://127.0.0.1:$PORT_big/v2/" >/dev/null ||
		"$TOOLS/registry.sh" start "$DIR_big" plain "$PORT_big"
	export VCE_ROOT=$mnt/store
	run --separate-stderr vce pull "127.0.0.1:$PORT_big/jupyter"
	[ "$status" -ne 0 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"disk is full"* || "$stderr" == *"No space left on device"* ]] || {
		echo "$stderr"
		false
	}
	[ -z "$(vce images -q)" ]
	[ -z "$(ls -A "$VCE_ROOT/tmp")" ]
	vce image prune -f >/dev/null
	[ -z "$(ls -A "$VCE_ROOT/downloads")" ]
}

@test "pull: two pulls of one image at once both succeed and unpack each layer once" {
	reg=127.0.0.1:$PORT_plain
	vce --verbose pull "$reg/tiny" >"$BATS_TEST_TMPDIR/a" 2>&1 &
	a=$!
	vce --verbose pull "$reg/tiny" >"$BATS_TEST_TMPDIR/b" 2>&1 &
	b=$!
	wait "$a" || { cat "$BATS_TEST_TMPDIR/a"; false; }
	wait "$b" || { cat "$BATS_TEST_TMPDIR/b"; false; }
	layers=$(vce image inspect "$reg/tiny" | jq '.[0].RootFS.Layers | unique | length')
	[ "$(cat "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b" | grep -c 'unpacked layer')" -eq "$layers" ] || {
		cat "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
		false
	}
	[ "$(vce run --rm "$reg/tiny" echo both)" = both ]
}

@test "pull: on a terminal a bar per layer; -q prints only the name" {
	run script -qec "$VCE pull 127.0.0.1:$PORT_plain/tiny" /dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *"latest: Pulling from tiny"* ]]
	[[ "$output" == *"Download complete"* ]]
	run vce pull -q "127.0.0.1:$PORT_plain/tiny"
	[ "$output" = "127.0.0.1:$PORT_plain/tiny:latest" ]
}
