#!/usr/bin/env bats
# rootfs-cache as root: layers unpacked once into the shared cache, in
# overlay format, matching umoci entry by entry; hostile layers refused.
load helpers

HOSTILE=$IMAGES/hostile

# The diff_ids of an image in the store, top layer first (overlay order).
lowerdirs() {
	vce image inspect "$1" | jq -r '.[0].RootFS.Layers | reverse | .[]' |
		sed "s|^sha256:|$VCE_ROOT/rootfs-cache/|; s|$|/rootfs|" | paste -sd:
}

# Mounts the image's cached layers as a read-only overlay at $2.
mount_image() {
	mkdir -p "$2"
	local lower
	lower=$(lowerdirs "$1")
	if [[ "$lower" == *:* ]]; then
		mount -t overlay overlay -o "ro,lowerdir=$lower" "$2"
	else
		mount --bind -o ro "$lower" "$2"
	fi
}

# umoci's unpack of an OCI layout: what vce's overlay must equal.
umoci_rootfs() { # layout tag dest
	umoci unpack --image "$1:$2" "$3" >/dev/null
	echo "$3/rootfs"
}

teardown() {
	for m in "$BATS_TEST_TMPDIR/mnt" "$BATS_TEST_TMPDIR/small" "$BATS_TEST_TMPDIR/ram"; do
		mountpoint -q "$m" 2>/dev/null && umount "$m"
	done
	true
}

# A store on a tmpfs, for tests that make and delete hundreds of thousands
# of files: on ext4 that leaves every new inode slow for minutes after
# (ext4 shuns reusing recently freed inodes), which would slow all the rest.
store_on_tmpfs() {
	mkdir -p "$BATS_TEST_TMPDIR/ram"
	mount -t tmpfs -o "size=$1" tmpfs "$BATS_TEST_TMPDIR/ram"
	export VCE_ROOT=$BATS_TEST_TMPDIR/ram/store
}

@test "load unpacks each layer once into rootfs-cache/<diffid>" {
	vce load -q -i "$TINY/oci-zstd.tar"
	for id in $(vce image inspect tiny | jq -r '.[0].RootFS.Layers[]'); do
		[ -d "$VCE_ROOT/rootfs-cache/${id#sha256:}/rootfs" ]
		jq -e ".diff_id == \"$id\"" "$VCE_ROOT/rootfs-cache/${id#sha256:}/info.json" >/dev/null
	done
	[ "$(ls "$VCE_ROOT/rootfs-cache" | wc -l)" -eq 4 ]
	# two images sharing every layer: still four
	vce load -q -i "$TINY/docker-multi.tar"
	[ "$(ls "$VCE_ROOT/rootfs-cache" | wc -l)" -eq 4 ]
}

@test "the overlay of the cached layers equals umoci unpack, for every tiny form" {
	want=$(umoci_rootfs "$TINY/layout-gzip" tiny:latest "$BATS_TEST_TMPDIR/umoci")
	for form in layout-gzip oci-zstd.tar docker.tar docker.tar.zst; do
		rm -rf "$VCE_ROOT"
		vce load -q -i "$TINY/$form"
		mount_image tiny "$BATS_TEST_TMPDIR/mnt"
		run python3 "$BATS_TEST_DIRNAME/../tools/treecmp.py" "$want" "$BATS_TEST_TMPDIR/mnt"
		umount "$BATS_TEST_TMPDIR/mnt"
		[ "$status" -eq 0 ] || { echo "$form: $output"; false; }
	done
}

@test "whiteouts are char 0:0 and opaque directories carry trusted.overlay.opaque" {
	vce load -q -i "$TINY/layout-gzip"
	top3=$(vce image inspect tiny | jq -r '.[0].RootFS.Layers[2]')
	layer=$VCE_ROOT/rootfs-cache/${top3#sha256:}/rootfs
	[ "$(stat -c '%F %t:%T' "$layer/edge/empty")" = "character special file 0:0" ]
	[ "$(stat -c '%F %t:%T' "$layer/to-delete")" = "character special file 0:0" ]
	[ "$(getfattr --only-values -n trusted.overlay.opaque "$layer/opaque-dir")" = y ]
	[ ! -e "$layer/opaque-dir/.wh..wh..opq" ]
}

@test "metadata survives: owners, modes, setuid, caps, xattrs, sparse, devices" {
	vce load -q -i "$TINY/oci-gzip.tar"
	mount_image tiny "$BATS_TEST_TMPDIR/mnt"
	m=$BATS_TEST_TMPDIR/mnt
	[ "$(stat -c %u:%g "$m/edge/owned")" = 1000:100 ]
	[ "$(stat -c %a "$m/edge/setuid")" = 4755 ]
	[ "$(stat -c %a "$m/edge/no-perm-dir")" = 0 ]
	[ "$(stat -c %a "$m/edge/read-only-dir")" = 555 ]
	[ "$(getcap "$m/edge/cap-file")" = "$m/edge/cap-file cap_net_raw=ep" ]
	[ "$(getfattr --only-values -n user.vce.test "$m/edge/xattr-file")" = hello ]
	[ "$(stat -c %s "$m/edge/sparse")" -gt 30000000 ]
	[ "$(du -k "$m/edge/sparse" | cut -f1)" -lt 1024 ]
	[ "$(stat -c '%F %t:%T' "$m/edge/char-null")" = "character special file 1:3" ]
	[ "$(stat -c %Y "$m/etc/passwd")" = 1704067200 ]
	[ "$(cat "$m/etc/motd")" = "upper layer content" ]
	[ "$(stat -c %i "$m/edge/hard-a")" = "$(stat -c %i "$m/edge/hard-b")" ]
	cmp "$m/bin/busybox" "$m/bin/busybox-hardlink"
}

@test "rmi removes the layers no image uses any more" {
	vce load -q -i "$TINY/docker-multi.tar"
	vce rmi tiny:multi-a
	[ "$(ls "$VCE_ROOT/rootfs-cache" | wc -l)" -eq 4 ]
	vce rmi tiny:multi-b example.org/course/tiny:2
	[ -z "$(ls -A "$VCE_ROOT/rootfs-cache")" ]
}

@test "two loads of the same image at once unpack each layer once" {
	local pids=() i
	for i in 1 2 3; do
		"$VCE" --verbose load -i "$TINY/oci-gzip.tar" 2>"$BATS_TEST_TMPDIR/log$i" &
		pids+=($!)
	done
	for i in 0 1 2; do
		wait "${pids[$i]}" || { cat "$BATS_TEST_TMPDIR"/log*; false; }
	done
	cat "$BATS_TEST_TMPDIR"/log*
	ls -la "$VCE_ROOT/tmp" "$VCE_ROOT/rootfs-cache"
	[ "$(cat "$BATS_TEST_TMPDIR"/log* | grep -c 'unpacked layer')" -eq 4 ]
	[ "$(ls "$VCE_ROOT/rootfs-cache" | wc -l)" -eq 4 ]
	[ -z "$(ls -A "$VCE_ROOT/tmp")" ]
}

# replace_blob LAYOUT DESCRIPTOR FILTER: the blob the manifest's DESCRIPTOR
# (.config, .layers[1]) names becomes what FILTER makes of it; the
# manifest and index.json are rewritten to match, so every digest holds.
replace_blob() {
	local b=$1 desc=$2 filter=$3 m old new nm
	m=$(jq -r '.manifests[0].digest' "$b/index.json" | cut -d: -f2)
	old=$(jq -r "$desc.digest" "$b/blobs/sha256/$m" | cut -d: -f2)
	$filter <"$b/blobs/sha256/$old" >"$b/new"
	new=$(sha256sum <"$b/new" | cut -d' ' -f1)
	mv "$b/new" "$b/blobs/sha256/$new"
	jq -c "$desc.digest = \"sha256:$new\" | $desc.size = $(stat -c %s "$b/blobs/sha256/$new")" \
		"$b/blobs/sha256/$m" >"$b/m.json"
	nm=$(sha256sum <"$b/m.json" | cut -d' ' -f1)
	mv "$b/m.json" "$b/blobs/sha256/$nm"
	jq -c ".manifests[0].digest = \"sha256:$nm\" | .manifests[0].size = $(stat -c %s "$b/blobs/sha256/$nm")" \
		"$b/index.json" >"$b/i.json" && mv "$b/i.json" "$b/index.json"
}

zero_second_diff_id() {
	jq -c --arg z "sha256:$(printf '0%.0s' {1..64})" '.rootfs.diff_ids[1] = $z'
}

@test "a layer whose content does not match its diff_id is discarded, with the image" {
	b=$BATS_TEST_TMPDIR/bad
	cp -r "$TINY/layout-gzip" "$b"
	# a config naming another diff_id for layer 2: digests all valid
	replace_blob "$b" .config zero_second_diff_id
	vce load -q -i "$TINY/docker-multi.tar"
	run_fails_cleanly vce load -i "$b"
	[[ "$stderr" == *"unpacks to sha256:"*"but the image config says sha256:0000"* ]]
}

@test "hostile layers end in one clear line and write nothing outside" {
	mkdir -p /tmp/vce-hostile && chmod 1777 /tmp/vce-hostile
	shadow=$(stat -c '%i %s %Y %a' /etc/shadow)
	vce load -q -i "$TINY/docker.tar"
	for case in traversal absolute symlink-file symlink-relative symlink-chain dir-to-symlink \
		hardlink-shadow hardlink-up gzip-bomb truncated; do
		run_fails_cleanly vce load -i "$HOSTILE/$case" || { echo "case $case"; false; }
		case $case in
		traversal | absolute) [[ "$stderr" == *"leaves the layer"* ]] ;;
		symlink-* | dir-to-symlink) [[ "$stderr" == *"never followed"* ]] ;;
		hardlink-*) [[ "$stderr" == *"points outside the layer"* ]] ;;
		gzip-bomb) [[ "$stderr" == *"free on the disk"* ]] ;;
		truncated) [[ "$stderr" == *"Truncated tar archive"* ]] ;;
		esac || { echo "case $case: $stderr"; false; }
		[ -z "$(ls -A /tmp/vce-hostile)" ] || { echo "case $case wrote outside"; false; }
	done
	[ "$(stat -c '%i %s %Y %a' /etc/shadow)" = "$shadow" ]
}

@test "a tar bomb of 10^6 empty files is refused" {
	[ -z "$VCE_SANITIZED" ] || skip "slow; run in the plain pass"
	store_on_tmpfs 1g
	vce load -q -i "$TINY/docker.tar"
	run_fails_cleanly vce load -i "$HOSTILE/tar-bomb"
	[[ "$stderr" == *"more than 500000 entries"* ]]
}

@test "a full disk ends in a clear error and removes the partial layer" {
	[ -z "$VCE_SANITIZED" ] || skip "mounts a tmpfs; run in the plain pass"
	mkdir -p "$BATS_TEST_TMPDIR/small"
	mount -t tmpfs -o size=24m tmpfs "$BATS_TEST_TMPDIR/small"
	export VCE_ROOT=$BATS_TEST_TMPDIR/small/store
	run --separate-stderr vce load -i "$TINY/oci-zstd.tar"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"No space left on device"* ]]
	[ -z "$(ls -A "$VCE_ROOT/rootfs-cache")" ]
	[ -z "$(ls -A "$VCE_ROOT/tmp")" ]
	[ -z "$(ls -A "$VCE_ROOT/blobs/sha256")" ]
}

@test "a load killed at any moment leaves no layer that looks complete" {
	[ -z "$VCE_SANITIZED" ] || skip "slow; run in the plain pass"
	store_on_tmpfs 6g
	for delay in 0.05 0.1 0.2 0.3 0.5 0.8 1.2; do
		"$VCE" load -q -i "$JUPYTER/oci-zstd.tar" &
		pid=$!
		sleep "$delay"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" || true
		# every layer under its final name is complete
		for d in "$VCE_ROOT"/rootfs-cache/*/; do
			[ -d "$d" ] || continue
			[ -f "$d/info.json" ] || { echo "incomplete layer $d after $delay s"; false; }
		done
	done
	vce images >/dev/null # the next run sweeps what the kills left
	[ -z "$(ls -A "$VCE_ROOT/tmp")" ]
	[ -z "$(ls -a "$VCE_ROOT/rootfs-cache" | grep '^\.tmp-')" ]
	vce load -q -i "$JUPYTER/oci-zstd.tar"
	[ "$(ls "$VCE_ROOT/rootfs-cache" | wc -l)" -eq 4 ]
}

@test "system df counts a layer two images share once" {
	vce load -q -i "$TINY/docker-multi.tar"
	run vce system df
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^TYPE\ +TOTAL\ +ACTIVE\ +SIZE\ +SHARED$ ]]
	[[ "${lines[1]}" =~ ^Images\ \(blobs\)\ +2\  ]]
	[[ "${lines[2]}" =~ ^Unpacked\ layers\ +4\  ]]
	# the layers' bytes once, though both images have all four
	want=$(cat "$VCE_ROOT"/rootfs-cache/*/info.json | jq -s 'map(.bytes) | add')
	got=$(echo "${lines[2]}" | awk '{ print $5 }')
	[ "$got" = "$(echo "${lines[2]}" | awk '{ print $6 }')" ] # all of it shared
	run vce system df -v
	[ "${#lines[@]}" -eq 6 ]
	[[ "${lines[4]}" == *tiny* ]]
	[ "$want" -gt 40000000 ]
}

@test "image prune removes unnamed images, -a all of them, and their layers" {
	vce load -q -i "$TINY/docker-multi.tar"
	vce tag tiny:multi-b tiny:multi-a # the first image loses its only name
	[ "$(vce images --format json | jq 'map(select(.Names == [])) | length')" -eq 1 ]
	run vce image prune -f
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Deleted Images:" ]
	[ "$(vce images -q | wc -l)" -eq 1 ]
	[ "$(ls "$VCE_ROOT/rootfs-cache" | wc -l)" -eq 4 ] # the other image still uses them
	run vce image prune -a -f
	[ "$status" -eq 0 ]
	[[ "$output" == *"Total reclaimed space: "* ]]
	[ "$(vce images -q | wc -l)" -eq 0 ]
	[ -z "$(ls -A "$VCE_ROOT/rootfs-cache")" ]
	[ -z "$(ls -A "$VCE_ROOT/blobs/sha256")" ]
}

# A copy of tiny's layout whose layer 2 blob is replaced by what the
# filter makes of it, with every digest and size made right again: only
# the unpack can notice.
spoil_layer() { # layout-form filter
	b=$BATS_TEST_TMPDIR/spoiled
	rm -rf "$b"
	cp -r "$TINY/$1" "$b"
	replace_blob "$b" '.layers[1]' "$2"
}
truncate_half() { head -c 1000000; }
flip_middle() { python3 -c 'import sys; d=bytearray(sys.stdin.buffer.read()); d[len(d)//2:len(d)//2+64]=b"\xff"*64; sys.stdout.buffer.write(d)'; }

@test "a layer's gzip or zstd stream that is corrupt or cut short fails cleanly" {
	# Not tiny itself: an image whose layers are all cached is only named.
	vce load -q -i "$HOSTILE/twice"
	spoil_layer layout-gzip truncate_half
	run_fails_cleanly vce load -i "$BATS_TEST_TMPDIR/spoiled"
	[[ "$stderr" == *"gzip stream is truncated"* ]]
	spoil_layer layout-gzip flip_middle
	run_fails_cleanly vce load -i "$BATS_TEST_TMPDIR/spoiled"
	[[ "$stderr" == *"gzip stream is corrupt"* || "$stderr" == *"damaged"* || "$stderr" == *"unpacks to sha256:"* ]]
	spoil_layer layout-zstd truncate_half
	run_fails_cleanly vce load -i "$BATS_TEST_TMPDIR/spoiled"
	[[ "$stderr" == *"zstd stream is truncated"* ]]
	spoil_layer layout-zstd flip_middle
	run_fails_cleanly vce load -i "$BATS_TEST_TMPDIR/spoiled"
	[[ "$stderr" == *"zstd stream is corrupt"* || "$stderr" == *"damaged"* || "$stderr" == *"unpacks to sha256:"* ]]
}

@test "an entry given twice: the last wins, whatever the types" {
	vce load -q -i "$HOSTILE/twice"
	l=$VCE_ROOT/rootfs-cache/$(vce image inspect hostile:twice | jq -r '.[0].RootFS.Layers[0]' | cut -d: -f2)/rootfs
	[ "$(cat "$l/etc/twice")" = "second wins" ]
	[ "$(stat -c %a "$l/etc/twice")" = 600 ]
	[ "$(cat "$l/was-dir")" = "now a file" ]
	[ "$(stat -c %F:%a "$l/was-file")" = "directory:750" ]
	[ "$(cat "$l/was-file/inner")" = inside ]
	[ "$(readlink "$l/link")" = was-file ]
}
