#!/usr/bin/env bats
# Every bad input ends in one line that names the file and what was
# expected, a non-zero exit, and the store exactly as it was (checked by
# run_fails_cleanly, against a store that already holds an image).
load helpers

setup() {
	export VCE_ROOT=$BATS_TEST_TMPDIR/store
	vce load -q -i "$TINY/docker-multi.tar"
	bad=$BATS_TEST_TMPDIR/bad
	mkdir -p "$bad"
}

# A copy of tiny's gzip layout to spoil.
layout_copy() {
	cp -r "$TINY/layout-gzip" "$bad/layout"
	manifest=$(jq -r '.manifests[0].digest' "$bad/layout/index.json" | cut -d: -f2)
	layer=$(jq -r '.layers[1].digest' "$bad/layout/blobs/sha256/$manifest" | cut -d: -f2)
}

# Replaces the manifest with the output of a jq filter, keeping index.json right.
rewrite_manifest() {
	local new
	jq -c "$1" "$bad/layout/blobs/sha256/$manifest" >"$bad/m.json"
	new=$(sha256sum <"$bad/m.json" | cut -d' ' -f1)
	mv "$bad/m.json" "$bad/layout/blobs/sha256/$new"
	jq -c ".manifests[0].digest = \"sha256:$new\" | .manifests[0].size = $(stat -c %s "$bad/layout/blobs/sha256/$new")" \
		"$bad/layout/index.json" >"$bad/i.json"
	mv "$bad/i.json" "$bad/layout/index.json"
}

tar_layout() { # the spoiled layout as an OCI archive too
	tar -cf "$bad/layout.tar" -C "$bad/layout" .
}

@test "a missing file" {
	run_fails_cleanly vce load -i "$bad/nosuch.tar"
	[[ "$stderr" == *"cannot open $bad/nosuch.tar: No such file or directory"* ]]
}

@test "an empty file" {
	: >"$bad/empty.tar"
	run_fails_cleanly vce load -i "$bad/empty.tar"
	[[ "$stderr" == *"$bad/empty.tar is empty"* ]]
}

@test "a truncated tar" {
	head -c 3000000 "$TINY/docker.tar" >"$bad/truncated.tar"
	run_fails_cleanly vce load -i "$bad/truncated.tar"
	[[ "$stderr" == *"$bad/truncated.tar"*"truncated"* ]]
}

@test "a truncated OCI archive" {
	head -c 1000000 "$TINY/oci-gzip.tar" >"$bad/truncated.tar"
	run_fails_cleanly vce load -i "$bad/truncated.tar"
	[[ "$stderr" == *"$bad/truncated.tar"*"truncated"* ]]
}

@test "a corrupt gzip stream" {
	cp "$TINY/docker.tar.gz" "$bad/corrupt.tar.gz"
	printf 'garbage in the middle of the deflate stream' |
		dd of="$bad/corrupt.tar.gz" bs=1 seek=200000 conv=notrunc status=none
	run_fails_cleanly vce load -i "$bad/corrupt.tar.gz"
	[[ "$stderr" == *"$bad/corrupt.tar.gz"* ]]
}

@test "a corrupt zstd stream" {
	cp "$TINY/docker.tar.zst" "$bad/corrupt.tar.zst"
	printf 'garbage in the middle of the zstd frame' |
		dd of="$bad/corrupt.tar.zst" bs=1 seek=300000 conv=notrunc status=none
	run_fails_cleanly vce load -i "$bad/corrupt.tar.zst"
	[[ "$stderr" == *"$bad/corrupt.tar.zst"* ]]
}

@test "a truncated gzip stream" {
	head -c 2000000 "$TINY/docker.tar.gz" >"$bad/short.tar.gz"
	run_fails_cleanly vce load -i "$bad/short.tar.gz"
	[[ "$stderr" == *"$bad/short.tar.gz"* ]]
}

@test "a blob whose digest does not match, in a layout and in an archive" {
	layout_copy
	printf 'x' >>"$bad/layout/blobs/sha256/$layer"
	run_fails_cleanly vce load -i "$bad/layout"
	[[ "$stderr" == *"$bad/layout"*"blob sha256:$layer does not match"* ]]
	tar_layout
	run_fails_cleanly vce load -i "$bad/layout.tar"
	[[ "$stderr" == *"$bad/layout.tar"*"sha256:$layer does not match"* ]]
}

@test "a layer blob changed where the unpack cannot see it, read in place from an archive" {
	layout_copy
	# The gzip header's time: the stream still inflates to the same tar,
	# so only the blob's own digest tells.
	printf '\x01' | dd of="$bad/layout/blobs/sha256/$layer" bs=1 seek=4 conv=notrunc status=none
	tar_layout
	export VCE_ROOT=$BATS_TEST_TMPDIR/empty-store
	vce images >/dev/null
	run_fails_cleanly vce load -i "$bad/layout.tar"
	[[ "$stderr" == *"$bad/layout.tar"*"blob sha256:$layer does not match its digest"* ]]
	[ -z "$(ls -A "$VCE_ROOT/rootfs-cache" | grep -v '^\.lock-')" ]
	[ -z "$(ls -A "$VCE_ROOT/blobs/sha256")" ]
}

@test "a docker-archive layer that does not match the config's diff_id" {
	mkdir "$bad/d"
	tar -xf "$TINY/docker.tar" -C "$bad/d"
	first=$(jq -r '.[0].Layers[0]' "$bad/d/manifest.json")
	printf 'extra' >>"$bad/d/$first"
	tar -cf "$bad/d.tar" -C "$bad/d" .
	run_fails_cleanly vce load -i "$bad/d.tar"
	# The layer is cached already (setup loaded the image): checked as
	# it is stored.
	[[ "$stderr" == *"$bad/d.tar: layer"*"does not match the image"* ]]
	[ "$(grep -o "$bad/d.tar" <<<"$stderr" | wc -l)" -eq 1 ] # named once
	# Not cached: checked by its unpack, which reads it in the archive.
	export VCE_ROOT=$BATS_TEST_TMPDIR/empty-store
	vce images >/dev/null
	run_fails_cleanly vce load -i "$bad/d.tar"
	[[ "$stderr" == *"$bad/d.tar: layer"*"unpacks to sha256:"*"but the image config says"* ]]
	[ -z "$(ls -A "$VCE_ROOT/rootfs-cache" | grep -v '^\.lock-')" ]
}

@test "a manifest naming a missing blob" {
	layout_copy
	rm "$bad/layout/blobs/sha256/$layer"
	run_fails_cleanly vce load -i "$bad/layout"
	[[ "$stderr" == *"$bad/layout"*"names blob sha256:$layer"*"does not contain"* ]]
	tar_layout
	run_fails_cleanly vce load -i "$bad/layout.tar"
	[[ "$stderr" == *"does not contain"* ]]
}

@test "a blob whose size differs from the manifest's" {
	layout_copy
	rewrite_manifest '.layers[1].size += 1'
	run_fails_cleanly vce load -i "$bad/layout"
	[[ "$stderr" == *"$bad/layout"*"sha256:$layer"*"bytes, the manifest says"* ]]
}

@test "malformed JSON: index.json, manifest.json, a manifest" {
	layout_copy
	echo '{"schemaVersion": 2, "manifests": [' >"$bad/layout/index.json"
	run_fails_cleanly vce load -i "$bad/layout"
	[[ "$stderr" == *"$bad/layout: index.json"*"malformed JSON"* ]]
	mkdir "$bad/d"
	tar -xf "$TINY/docker.tar" -C "$bad/d"
	echo '[{"Config": ' >"$bad/d/manifest.json"
	tar -cf "$bad/d.tar" -C "$bad/d" .
	run_fails_cleanly vce load -i "$bad/d.tar"
	[[ "$stderr" == *"$bad/d.tar: manifest.json is malformed"* ]]
	rm -rf "$bad/layout"
	layout_copy
	echo '{"schemaVersion": 2, "config": ' >"$bad/m.json"
	new=$(sha256sum <"$bad/m.json" | cut -d' ' -f1)
	mv "$bad/m.json" "$bad/layout/blobs/sha256/$new"
	jq -c ".manifests[0].digest = \"sha256:$new\" | .manifests[0].size = $(stat -c %s "$bad/layout/blobs/sha256/$new")" \
		"$bad/layout/index.json" >"$bad/i.json" && mv "$bad/i.json" "$bad/layout/index.json"
	run_fails_cleanly vce load -i "$bad/layout"
	[[ "$stderr" == *"$bad/layout"*"manifest: malformed JSON"* ]]
}

@test "an unknown media type, for a layer and for a manifest" {
	layout_copy
	rewrite_manifest '.layers[1].mediaType = "application/vnd.example.layer.v1.tar+lz4"'
	run_fails_cleanly vce load -i "$bad/layout"
	[[ "$stderr" == *"$bad/layout"*"unknown layer media type \"application/vnd.example.layer.v1.tar+lz4\""* ]]
	jq -c '.manifests[0].mediaType = "application/vnd.example.manifest+json"' "$bad/layout/index.json" >"$bad/i.json"
	mv "$bad/i.json" "$bad/layout/index.json"
	run_fails_cleanly vce load -i "$bad/layout"
	[[ "$stderr" == *"unknown media type \"application/vnd.example.manifest+json\""* ]]
}

@test "an archive with no manifest" {
	mkdir -p "$bad/notimage/etc"
	echo hello >"$bad/notimage/etc/motd"
	tar -cf "$bad/notimage.tar" -C "$bad/notimage" .
	run_fails_cleanly vce load -i "$bad/notimage.tar"
	[[ "$stderr" == *"$bad/notimage.tar has neither manifest.json"*"nor index.json"* ]]
	run_fails_cleanly vce load -i "$bad/notimage"
	[[ "$stderr" == *"$bad/notimage is a folder without index.json"* ]]
}

@test "a file that is not an archive at all" {
	head -c 5000 /dev/urandom >"$bad/random.bin"
	run_fails_cleanly vce load -i "$bad/random.bin"
	[[ "$stderr" == *"$bad/random.bin"*"not an image archive"* ]]
}

@test "a name in the archive that is not a valid reference" {
	mkdir "$bad/d"
	tar -xf "$TINY/docker.tar" -C "$bad/d"
	jq -c '.[0].RepoTags = ["Not A/Valid:Name"]' "$bad/d/manifest.json" >"$bad/m.json"
	mv "$bad/m.json" "$bad/d/manifest.json"
	tar -cf "$bad/d.tar" -C "$bad/d" .
	run_fails_cleanly vce load -i "$bad/d.tar"
	[[ "$stderr" == *"$bad/d.tar names an image"*"not a valid image name"* ]]
}

@test "a name on the command line that is not a valid reference" {
	run_fails_cleanly vce tag tiny:multi-a 'course/UPPER'
	[[ "$stderr" == *"\"course/UPPER\" is not a valid image name"*"lowercase"* ]]
	run_fails_cleanly vce save -o "$bad/x.tar" 'no such:image'
	[[ "$stderr" == *"no image"* ]]
	[ ! -e "$bad/x.tar" ]
}

@test "a damaged images.json is reported, not overwritten" {
	echo '{"images": [' >"$VCE_ROOT/images.json"
	run_fails_cleanly vce load -i "$TINY/docker.tar"
	[[ "$stderr" == *"images.json is damaged"* ]]
}

@test "a store that cannot be written" {
	touch "$BATS_TEST_TMPDIR/afile"
	run --separate-stderr vce --root "$BATS_TEST_TMPDIR/afile/store" images
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"cannot use $BATS_TEST_TMPDIR/afile/store as the store"* ]]
}
