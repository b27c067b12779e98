#!/usr/bin/env bats
# The jupyter test image: a course image of real size, in every form.
load helpers

JUPYTER_FORMS=(docker.tar oci-gzip.tar oci-zstd.tar layout-gzip layout-zstd)

@test "jupyter: every form loads to the same image, with its config intact" {
	local ids=()
	for form in "${JUPYTER_FORMS[@]}"; do
		run vce load -i "$JUPYTER/$form"
		[ "$status" -eq 0 ] || { echo "$form: $output"; false; }
		[ "$output" = "Loaded image: jupyter:latest" ]
		ids+=("$(image_id jupyter)")
	done
	[ "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)" -eq 1 ]
	run vce image inspect jupyter
	[ "$(echo "$output" | jq -r '.[0].Config.User')" = 1000 ]
	[ "$(echo "$output" | jq -r '.[0].Config.Cmd[0]')" = start-notebook.sh ]
	[ "$(echo "$output" | jq -r '.[0].RootFS.Layers | length')" -ge 4 ]
	# every form's blobs are kept once: the gzip docker-archive came first
	[ "$(ls "$VCE_ROOT/blobs/sha256" | wc -l)" -eq 6 ]
}

@test "jupyter: vce save round-trips through podman load" {
	vce load -q -i "$JUPYTER/oci-gzip.tar"
	vce save -o "$BATS_TEST_TMPDIR/jupyter.tar" jupyter
	run podman_private load -i "$BATS_TEST_TMPDIR/jupyter.tar"
	[ "$status" -eq 0 ]
	want=$(image_id jupyter)
	[ "$(podman_private image inspect jupyter --format '{{.Id}}')" = "${want#sha256:}" ]
	rm -rf "$BATS_TEST_TMPDIR/podman" 2>/dev/null || true
}

@test "jupyter: the docker-archive vce saves loads back into vce" {
	vce load -q -i "$JUPYTER/oci-zstd.tar"
	want=$(image_id jupyter)
	vce save --format oci-archive -o "$BATS_TEST_TMPDIR/j-oci.tar" jupyter
	vce save -o "$BATS_TEST_TMPDIR/j-docker.tar" jupyter
	rm -rf "$VCE_ROOT"
	vce load -q -i "$BATS_TEST_TMPDIR/j-docker.tar"
	vce load -q -i "$BATS_TEST_TMPDIR/j-oci.tar"
	[ "$(image_id jupyter)" = "$want" ]
}

@test "jupyter: the overlay of the cached layers equals umoci unpack" {
	want=$(umoci_reference "$JUPYTER" jupyter:latest)
	vce load -q -i "$JUPYTER/oci-gzip.tar"
	mkdir -p "$BATS_TEST_TMPDIR/mnt"
	mount -t overlay overlay -o "ro,lowerdir=$(store_lowerdirs "$VCE_ROOT" jupyter)" "$BATS_TEST_TMPDIR/mnt"
	run python3 "$BATS_TEST_DIRNAME/../tools/treecmp.py" "$want" "$BATS_TEST_TMPDIR/mnt"
	umount "$BATS_TEST_TMPDIR/mnt"
	[ "$status" -eq 0 ] || { echo "$output" | tail -20; false; }
	[[ "${lines[-1]}" == *"entries compared, 0 differences" ]]
}
