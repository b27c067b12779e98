#!/bin/bash
# Runs Debian's docker-registry on 127.0.0.1 for the pull tests and the
# pull benchmark.
#
#   registry.sh start DIR MODE PORT   MODE: plain | tls | basic | token
#   registry.sh stop DIR
#
# plain: HTTP. tls: HTTPS with a CA made here (DIR/certs.d/127.0.0.1:PORT/
# ca.crt, the layout vce's "certs_dirs" setting reads). basic: tls plus
# htpasswd (user "student", password "secret"). token: HTTP, with the token
# issuer tests/tools/token-server.py on PORT+1 (same credentials; anonymous
# pulls only of public/*). Storage: DIR/data; logs: DIR/registry.log.
# REG_HOST (default 127.0.0.1) is the address to listen on; REG_NETNS, a
# network namespace (ip netns) to run the registry in.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
USER_NAME=student
PASSWORD=secret

host=${REG_HOST:-127.0.0.1}
in_netns=()
[ -z "${REG_NETNS:-}" ] || in_netns=(ip netns exec "$REG_NETNS")

wait_port() {
	local port=$1 i
	for i in $(seq 100); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "registry.sh: nothing listens on $host:$port; its log ends:" >&2
	tail -5 "$dir/registry.log" "$dir/token.log" 2>/dev/null >&2
	return 1
}

make_ca() {
	local port=$1
	mkdir -p "$dir/tls" "$dir/certs.d/127.0.0.1:$port"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vce test CA" \
		-keyout "$dir/tls/ca.key" -out "$dir/tls/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$dir/tls/server.key" -out "$dir/tls/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/tls/ext"
	openssl x509 -req -in "$dir/tls/server.csr" -CA "$dir/tls/ca.crt" -CAkey "$dir/tls/ca.key" \
		-CAcreateserial -days 2 -extfile "$dir/tls/ext" -out "$dir/tls/server.crt" 2>/dev/null
	cp "$dir/tls/ca.crt" "$dir/certs.d/127.0.0.1:$port/ca.crt"
}

start() {
	local mode=$1 port=$2 tls="" auth=""
	mkdir -p "$dir/data"
	case $mode in
	plain) ;;
	tls | basic)
		make_ca "$port"
		tls="  tls:
    certificate: $dir/tls/server.crt
    key: $dir/tls/server.key"
		;;&
	tls) ;;
	basic)
		# bcrypt, as the registry wants; python3-bcrypt is not needed:
		# htpasswd -B comes with apache2-utils.
		htpasswd -Bbn "$USER_NAME" "$PASSWORD" >"$dir/htpasswd" 2>/dev/null
		auth="auth:
  htpasswd:
    realm: vce-test
    path: $dir/htpasswd"
		;;
	token)
		mkdir -p "$dir/tls"
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vce token signer" \
			-keyout "$dir/tls/token.key" -out "$dir/tls/token.crt" 2>/dev/null
		auth="auth:
  token:
    realm: http://127.0.0.1:$((port + 1))/token
    service: vce-test-registry
    issuer: vce-test-issuer
    rootcertbundle: $dir/tls/token.crt"
		/usr/bin/python3 "$here/token-server.py" $((port + 1)) "$dir/tls/token.key" \
			"$dir/tls/token.crt" "$USER_NAME" "$PASSWORD" >"$dir/token.log" 2>&1 &
		echo $! >"$dir/token.pid"
		;;
	*)
		echo "registry.sh: unknown mode $mode" >&2
		return 2
		;;
	esac
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
$auth
http:
  addr: $host:$port
$tls
EOF
	# REGISTRY_* variables override the registry's configuration (podman's
	# REGISTRY_AUTH_FILE would become auth.file): none of them reach it.
	local unset=() v
	for v in $(compgen -e | grep '^REGISTRY_' || true); do
		unset+=(-u "$v")
	done
	"${in_netns[@]}" env "${unset[@]}" docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
	echo $! >"$dir/registry.pid"
	wait_port "$port"
	[ "$mode" != token ] || wait_port $((port + 1))
}

stop() {
	local f
	for f in "$dir/registry.pid" "$dir/token.pid"; do
		[ -f "$f" ] || continue
		kill "$(cat "$f")" 2>/dev/null || true
		rm -f "$f"
	done
}

cmd=$1
dir=$2
shift 2
case $cmd in
start) start "$@" ;;
stop) stop ;;
*)
	echo "usage: registry.sh start DIR MODE PORT | stop DIR" >&2
	exit 2
	;;
esac
