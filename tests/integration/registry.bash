# Real registries for the pull tests: Debian's docker-registry on
# 127.0.0.1, started once per test file (tests/tools/registry.sh).
#   registries_start NAME:MODE...   exports PORT_<NAME> and DIR_<NAME>
#   registries_stop
#   push ARCHIVE-OR-LAYOUT DEST [skopeo options]

TOOLS=$BATS_TEST_DIRNAME/../tools

# A port nobody listens on, and the one after it free too (token mode's
# issuer takes PORT+1).
free_port() {
	/usr/bin/python3 - <<'EOF'
import socket
while True:
    a = socket.socket()
    a.bind(("127.0.0.1", 0))
    port = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", port + 1))
    except OSError:
        continue
    print(port)
    break
EOF
}

registries_start() {
	local spec name mode port dir
	export REGISTRIES=$BATS_FILE_TMPDIR/registries
	for spec in "$@"; do
		name=${spec%%:*}
		mode=${spec##*:}
		port=$(free_port)
		dir=$REGISTRIES/$name
		"$TOOLS/registry.sh" start "$dir" "$mode" "$port"
		export "PORT_$name=$port" "DIR_$name=$dir"
	done
}

registries_stop() {
	local dir
	for dir in "$REGISTRIES"/*; do
		[ -d "$dir" ] && "$TOOLS/registry.sh" stop "$dir"
	done
	return 0
}

push() { # source dest [skopeo options...]
	local src=$1 dest=$2
	shift 2
	case $src in
	*.tar) src=oci-archive:$src ;;
	*) src=oci:$src ;;
	esac
	skopeo copy --quiet --all --dest-tls-verify=false "$@" "$src" "docker://$dest" >/dev/null
}

# blob_requests DIR: how many blob GETs the registry's log shows.
blob_requests() {
	grep -c '"GET /v2/[^"]*/blobs/sha256:' "$1/registry.log" || true
}
