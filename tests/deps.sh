#!/bin/bash
# Installs every Debian package the build, the cross build and the tests
# need; quiet and quick when all are present. Run as root (make deps).
# `deps.sh demo`: only what make demo needs. Without root: exits 1 when
# something is missing.
# ISA-L (igzip) is native only: Debian cannot install its -dev package for
# two architectures at once, so the arm64 cross build inflates with zlib.
set -euo pipefail

build=(build-essential pkg-config libarchive-dev libjansson-dev libzstd-dev libseccomp-dev
	libcap-dev libssl-dev libcurl4-openssl-dev zlib1g-dev libisal-dev libbz2-dev liblzma-dev
	nettle-dev)
tests=(libcmocka-dev bats clang libclang-rt-14-dev cppcheck clang-format python3 skopeo podman
	umoci uidmap debootstrap busybox-static zstd pigz attr libcap2-bin jq crun runc
	qemu-user-static gcc-aarch64-linux-gnu bc bubblewrap fuse-overlayfs passt slirp4netns
	iperf3 apache2-utils curl docker-registry python3-jwt python3-cryptography openssl
	python3-websocket)
# make demo: the build, the demo image's (tests/images/build-jupyter.sh),
# and rootless running (newuidmap, pasta).
demo=(debootstrap skopeo python3 attr zstd uidmap passt curl jq)
arm64=(libarchive-dev:arm64 libjansson-dev:arm64 libzstd-dev:arm64 libseccomp-dev:arm64
	libcap-dev:arm64 libssl-dev:arm64 libcurl4-openssl-dev:arm64
	zlib1g-dev:arm64 libcmocka-dev:arm64 libbz2-dev:arm64 liblzma-dev:arm64 nettle-dev:arm64)

missing() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			echo "$p"
	done
}

if [ "${1:-}" = demo ]; then
	tests=("${demo[@]}")
	arm64=()
fi

if [ "$(id -u)" != 0 ]; then
	want=$(missing "${build[@]}" "${tests[@]}" "${arm64[@]}")
	[ -z "$want" ] && exit 0
	echo "deps: these packages are missing; run 'make deps' as root:" $want >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
updated=
update_once() {
	[ -n "$updated" ] && return
	apt-get update -qq
	updated=1
}
if [ ${#arm64[@]} -gt 0 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
	updated=
	update_once
fi
want=$(missing "${build[@]}" "${tests[@]}" "${arm64[@]}")
if [ -n "$want" ]; then
	echo "deps: installing" $want
	update_once
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $want >/dev/null
fi
