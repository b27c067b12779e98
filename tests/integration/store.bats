#!/usr/bin/env bats
# The image store as root: load every form, list, inspect, tag, rmi, save,
# and round trips through podman and skopeo.
load helpers

TINY_FORMS=(docker.tar docker.tar.gz docker.tar.zst oci-gzip.tar oci-zstd.tar layout-gzip layout-zstd)

@test "load reads every form of the tiny image and names it" {
	for form in "${TINY_FORMS[@]}"; do
		rm -rf "$VCE_ROOT"
		run vce load -i "$TINY/$form"
		[ "$status" -eq 0 ] || { echo "$form: $output"; false; }
		[ "$output" = "Loaded image: tiny:latest" ] || { echo "$form: $output"; false; }
		run vce images --format json
		[ "$(echo "$output" | jq -r '.[0].Names[0]')" = "tiny:latest" ]
	done
}

@test "every form of one image gives the same image id, stored once" {
	local ids=()
	for form in "${TINY_FORMS[@]}"; do
		vce load -q -i "$TINY/$form"
		ids+=("$(image_id tiny)")
	done
	[ "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)" -eq 1 ]
	[ "$(vce images -q | wc -l)" -eq 1 ]
	# one manifest, one config, four layers: the later forms added nothing
	[ "$(ls "$VCE_ROOT/blobs/sha256" | wc -l)" -eq 6 ]
}

@test "blobs in the store match their digests" {
	vce load -q -i "$TINY/oci-zstd.tar"
	for blob in "$VCE_ROOT"/blobs/sha256/*; do
		[ "$(sha256sum <"$blob" | cut -d' ' -f1)" = "$(basename "$blob")" ]
	done
}

@test "load reads standard input" {
	run bash -c "'$VCE' load <'$TINY/docker.tar.zst'"
	[ "$status" -eq 0 ]
	[ "$output" = "Loaded image: tiny:latest" ]
}

@test "an archive whose layer is a sparse tar member (tar --sparse) loads" {
	# A plain layer with a long run of zeros, its blob with holes dug in:
	# GNU tar then stores it as a sparse member, whose bytes are not in
	# one piece in the archive.
	local d=$BATS_TEST_TMPDIR/sparse
	mkdir -p "$d/rootfs"
	head -c 4194304 /dev/zero >"$d/rootfs/zeros"
	echo hello >"$d/rootfs/hello"
	tar -cf "$d/layer.tar" -C "$d/rootfs" .
	python3 "$BATS_TEST_DIRNAME/../images/mkoci.py" --out "$d/layout" --ref sparse:latest \
		--compress none --config-json '{"Cmd": ["cat", "/hello"]}' "$d/layer.tar"
	for blob in "$d"/layout/blobs/sha256/*; do fallocate --dig-holes "$blob"; done
	tar --sparse -cf "$d/sparse.tar" -C "$d/layout" .
	python3 -c 'import sys, tarfile; sys.exit(not any(m.issparse() for m in tarfile.open(sys.argv[1])))' \
		"$d/sparse.tar"
	run vce load -i "$d/sparse.tar"
	[ "$status" -eq 0 ]
	[ "$output" = "Loaded image: sparse:latest" ]
	[ "$(cat "$VCE_ROOT"/rootfs-cache/*/rootfs/hello)" = hello ]
	[ "$(stat -c %s "$VCE_ROOT"/rootfs-cache/*/rootfs/zeros)" = 4194304 ]
}

@test "a docker-archive with two images and shared, symlinked layers loads both" {
	run vce load -i "$TINY/docker-multi.tar"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Loaded image: tiny:multi-a"* ]]
	[[ "$output" == *"Loaded image: tiny:multi-b"* ]]
	[[ "$output" == *"Loaded image: example.org/course/tiny:2"* ]]
	[ "$(vce images -q | wc -l)" -eq 2 ]
	[ "$(image_id tiny:multi-b)" = "$(image_id example.org/course/tiny:2)" ]
	[ "$(image_id tiny:multi-a)" != "$(image_id tiny:multi-b)" ]
	# the four layers are shared: 2 configs + 2 manifests + 4 layers
	[ "$(ls "$VCE_ROOT/blobs/sha256" | wc -l)" -eq 8 ]
}

@test "images prints docker's table, filters by repository, and -q prints ids" {
	vce load -q -i "$TINY/docker-multi.tar"
	run vce images
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^REPOSITORY\ +TAG\ +IMAGE\ ID\ +CREATED\ +SIZE$ ]]
	[ "${#lines[@]}" -eq 4 ]
	run vce images tiny
	[ "${#lines[@]}" -eq 3 ]
	run vce images tiny:multi-b
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[1]}" == tiny*multi-b* ]]
	run vce images -q
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" =~ ^[0-9a-f]{12}$ ]]
}

@test "image inspect shows the config as docker does, by name, id or short id" {
	vce load -q -i "$TINY/oci-gzip.tar"
	run vce image inspect tiny
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.[0].Config.Cmd[0]')" = "/bin/sh" ]
	[ "$(echo "$output" | jq -r '.[0].RootFS.Layers | length')" = 4 ]
	[ "$(echo "$output" | jq -r '.[0].Os')" = linux ]
	id=$(echo "$output" | jq -r '.[0].Id')
	[ "$(vce inspect "$id" | jq -r '.[0].Id')" = "$id" ]
	[ "$(vce inspect "${id:7:12}" | jq -r '.[0].Id')" = "$id" ]
}

@test "tag adds a name; rmi of one name keeps the image" {
	vce load -q -i "$TINY/docker.tar"
	vce tag tiny course/tiny:v1
	[ "$(image_id course/tiny:v1)" = "$(image_id tiny)" ]
	run vce rmi course/tiny:v1
	[ "$status" -eq 0 ]
	[ "$output" = "Untagged: docker.io/course/tiny:v1" ]
	[ "$(vce images -q | wc -l)" -eq 1 ]
	run vce tag tiny 'Bad Name'
	[ "$status" -ne 0 ]
	[[ "$output" == *"not a valid image name"* ]]
}

@test "rmi of the last name removes the image and its blobs" {
	vce load -q -i "$TINY/docker-multi.tar"
	vce rmi tiny:multi-a
	[ "$(vce images -q | wc -l)" -eq 1 ]
	# the shared layers stay for the other image; the first config goes
	[ "$(ls "$VCE_ROOT/blobs/sha256" | wc -l)" -eq 6 ]
	vce rmi tiny:multi-b example.org/course/tiny:2
	[ "$(vce images -q | wc -l)" -eq 0 ]
	[ "$(ls "$VCE_ROOT/blobs/sha256" | wc -l)" -eq 0 ]
}

@test "rmi by id of an image with several names needs -f" {
	vce load -q -i "$TINY/docker-multi.tar"
	id=$(image_id tiny:multi-b)
	run vce rmi "$id"
	[ "$status" -eq 1 ]
	[[ "$output" == *"use -f"* ]]
	run vce rmi -f "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Deleted: $id"* ]]
	[ "$(vce images -q | wc -l)" -eq 1 ]
}

@test "rmi refuses an image a container uses, unless -f" {
	vce load -q -i "$TINY/docker.tar"
	id=$(image_id tiny)
	mkdir -p "$VCE_ROOT/containers/c1"
	echo "{\"name\":\"course1\",\"image\":\"$id\"}" >"$VCE_ROOT/containers/c1/state.json"
	run vce rmi tiny
	[ "$status" -eq 1 ]
	[[ "$output" == *"used by container course1"* ]]
	run vce rmi -f tiny
	[ "$status" -eq 0 ]
}

@test "rmi of an unknown image says how to get one" {
	vce load -q -i "$TINY/docker.tar"
	run_fails_cleanly vce rmi nosuch
	[[ "$stderr" == *"no image \"nosuch\""*"vce load"* ]]
}

@test "save writes a docker-archive that podman load and skopeo accept" {
	vce load -q -i "$TINY/oci-zstd.tar"
	vce save -o "$BATS_TEST_TMPDIR/out.tar" tiny
	run skopeo inspect "docker-archive:$BATS_TEST_TMPDIR/out.tar"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.Layers | length')" = 4 ]
	run podman_private load -i "$BATS_TEST_TMPDIR/out.tar"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Loaded image: docker.io/library/tiny:latest"* ]]
	want=$(image_id tiny)
	[ "$(podman_private image inspect tiny --format '{{.Id}}')" = "${want#sha256:}" ]
}

@test "save --format oci-archive writes what podman load and skopeo accept" {
	vce load -q -i "$TINY/docker.tar.gz"
	vce save --format oci-archive -o "$BATS_TEST_TMPDIR/out.tar" tiny
	run skopeo inspect "oci-archive:$BATS_TEST_TMPDIR/out.tar"
	[ "$status" -eq 0 ]
	run podman_private load -i "$BATS_TEST_TMPDIR/out.tar"
	[ "$status" -eq 0 ]
	want=$(image_id tiny)
	[ "$(podman_private image inspect tiny --format '{{.Id}}')" = "${want#sha256:}" ]
}

@test "every tiny form round-trips: load, save, load into a fresh store" {
	for form in "${TINY_FORMS[@]}" docker-multi.tar; do
		for fmt in docker-archive oci-archive; do
			rm -rf "$VCE_ROOT"
			vce load -q -i "$TINY/$form"
			ids=$(vce images -q --format json | jq -r '.[].Id' | sort)
			names=$(vce images --format json | jq -r '.[].Names[]' | sort)
			mapfile -t all < <(vce images --format json | jq -r '.[].Names[]')
			vce save --format "$fmt" -o "$BATS_TEST_TMPDIR/rt.tar" "${all[@]}"
			rm -rf "$VCE_ROOT"
			vce load -q -i "$BATS_TEST_TMPDIR/rt.tar"
			[ "$(vce images --format json | jq -r '.[].Id' | sort)" = "$ids" ] || { echo "$form $fmt ids"; false; }
			[ "$(vce images --format json | jq -r '.[].Names[]' | sort)" = "$names" ] || { echo "$form $fmt names"; false; }
		done
	done
}

@test "save writes to standard output, never to a terminal, and replaces only when done" {
	vce load -q -i "$TINY/docker.tar"
	vce save tiny >"$BATS_TEST_TMPDIR/stdout.tar"
	run skopeo inspect "docker-archive:$BATS_TEST_TMPDIR/stdout.tar"
	[ "$status" -eq 0 ]
	echo precious >"$BATS_TEST_TMPDIR/keep.tar"
	run vce save -o "$BATS_TEST_TMPDIR/keep.tar" tiny nosuch
	[ "$status" -eq 1 ]
	[ "$(cat "$BATS_TEST_TMPDIR/keep.tar")" = precious ]
	[ -z "$(ls -A "$BATS_TEST_TMPDIR" | grep '\.vce-')" ]
	run vce save -o /nonexistent-dir/x.tar tiny
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot write /nonexistent-dir/x.tar"* ]]
}

@test "two vce processes loading and removing at once keep the store consistent" {
	vce load -q -i "$TINY/docker.tar"
	for round in 1 2 3 4 5; do
		vce load -q -i "$TINY/docker-multi.tar" &
		vce load -q -i "$TINY/oci-zstd.tar" &
		vce tag tiny "tiny:round$round" &
		wait
		vce rmi tiny:multi-b example.org/course/tiny:2 >/dev/null
	done
	jq -e . "$VCE_ROOT/images.json" >/dev/null
	[ "$(vce images -q | wc -l)" -eq 1 ]
	[ "$(vce images tiny --format json | jq -r '.[0].Names | length')" -eq 7 ]
	[ -z "$(ls -A "$VCE_ROOT/tmp")" ]
	for blob in "$VCE_ROOT"/blobs/sha256/*; do
		[ "$(sha256sum <"$blob" | cut -d' ' -f1)" = "$(basename "$blob")" ]
	done
	vce save -o "$BATS_TEST_TMPDIR/after.tar" tiny
}

@test "a load killed midway leaves nothing, and the leftovers are swept" {
	vce load -q -i "$TINY/docker.tar"
	before=$(store_state)
	mkfifo "$BATS_TEST_TMPDIR/slow"
	{ head -c 3000000 "$TINY/docker-multi.tar"; sleep 30; } >"$BATS_TEST_TMPDIR/slow" &
	feeder=$!
	"$VCE" load -i "$BATS_TEST_TMPDIR/slow" &
	loader=$!
	for _ in $(seq 50); do
		[ -n "$(ls -A "$VCE_ROOT/tmp")" ] && break
		sleep 0.1
	done
	sleep 0.3
	kill -9 "$loader"
	wait "$loader" || true
	kill "$feeder" 2>/dev/null || true
	[ -n "$(ls -A "$VCE_ROOT/tmp")" ] # the dead load's stage is there...
	vce images >/dev/null             # ...until the next vce opens the store
	[ -z "$(ls -A "$VCE_ROOT/tmp")" ]
	[ "$(store_state)" = "$before" ]
}

@test "--root and VCE_ROOT choose the store; a relative --root works" {
	cd "$BATS_TEST_TMPDIR"
	vce --root rel-store load -q -i "$TINY/docker.tar"
	[ -f "$BATS_TEST_TMPDIR/rel-store/images.json" ]
	run vce --root "$BATS_TEST_TMPDIR/rel-store" images -q
	[ "${#lines[@]}" -eq 1 ]
}

@test "usage errors exit 2 with a hint; --version and --help work" {
	run vce --version
	[ "$status" -eq 0 ]
	[[ "$output" == "vce version "* ]]
	run vce --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"load"*"save"*"images"* ]]
	run vce frobnicate
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown command"* ]]
	run vce save --format tarball tiny
	[ "$status" -eq 2 ]
	[[ "$output" == *"docker-archive or oci-archive"* ]]
	run vce load -i x extra
	[ "$status" -eq 2 ]
	run vce image ls
	[ "$status" -eq 0 ]
}
