#!/usr/bin/env bats
# Networking as a student without root: the forwarder's helper joins the
# container's user namespace; pasta (else slirp4netns) is the way out.
load helpers

WEB='mkdir -p /www && echo hello-rootless >/www/index.html && exec httpd -f -p 80 -h /www'

setup_file() {
	rootless_setup
}

teardown_file() {
	rootless_teardown
}

teardown() {
	remove_user_containers
}

host_port() { # user container port
	user_vce "$1" port "$2" "$3" | head -1 | sed 's/.*://'
}

@test "rootless: -p forwards HTTP, IPv4 and IPv6, with and without a subordinate range" {
	for user in vcetest vcetest-nosub; do
		user_vce "$user" run -d --name web -p 80 tiny sh -c "$WEB"
		port=$(host_port "$user" web 80)
		wait_for 50 curl -sS -m 2 "http://127.0.0.1:$port/"
		[ "$(curl -sS -m 5 "http://127.0.0.1:$port/")" = hello-rootless ]
		[ "$(curl -sS -m 5 -g "http://[::1]:$port/")" = hello-rootless ]
		user_vce "$user" stop -t 1 web
		# the port is free once stop returns, and no helper is left
		python3 -c "import socket; s=socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('::', $port)); s.listen()"
		wait_for 30 no_outbound_tool_of "$user"
		user_vce "$user" rm web
	done
}

@test "rootless: a large transfer arrives intact; half-close works" {
	user_vce vcetest run -d --name sink -p 9000 -p 7000 tiny sh -c \
		'(nc -ll -p 7000 -e sh -c "wc -c | sed s/^/got-/" &); nc -l -p 9000 | sha256sum >/tmp/in.sum; sleep 1000'
	in=$(host_port vcetest sink 9000)
	hc=$(host_port vcetest sink 7000)
	sleep 0.5
	mkfifo "$BATS_TEST_TMPDIR/copy"
	sha256sum <"$BATS_TEST_TMPDIR/copy" >"$BATS_TEST_TMPDIR/sent.sum" &
	head -c 268435456 /dev/urandom | tee "$BATS_TEST_TMPDIR/copy" >"/dev/tcp/127.0.0.1/$in"
	wait $!
	wait_for 100 user_vce vcetest exec sink test -s /tmp/in.sum
	[ "$(user_vce vcetest exec sink cat /tmp/in.sum | cut -d' ' -f1)" = "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/sent.sum")" ]
	run "$BATS_TEST_DIRNAME/../tools/netclient.py" halfclose 127.0.0.1 "$hc" "twelve bytes"
	[ "$output" = "got-12" ]
}

@test "rootless: a port below 1024 says which sysctl keeps it" {
	run --separate-stderr user_vce vcetest run --rm -p 80:80 tiny true
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"net.ipv4.ip_unprivileged_port_start"* ]]
}

@test "rootless: the container reaches a server on the host's loopback" {
	python3 -m http.server --bind 127.0.0.1 0 >"$BATS_TEST_TMPDIR/http.log" 2>&1 &
	server=$!
	wait_for 50 grep -q "port" "$BATS_TEST_TMPDIR/http.log"
	port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$BATS_TEST_TMPDIR/http.log" | head -1)
	# the command runs as soon as the way out is configured: its very
	# first connection must not find the network unreachable
	for _ in 1 2 3 4 5; do
		run user_vce vcetest run --rm tiny busybox wget -q -O- "http://host.containers.internal:$port/"
		[ "$status" -eq 0 ]
		[[ "$output" == *"Directory listing"* ]]
	done
	kill "$server"
	# and pasta is gone with the container (it once kept vce's blocked
	# signals, SIGTERM among them, and stayed)
	wait_for 30 no_outbound_tool_of vcetest
}

@test "rootless: a host whose only resolver is on its loopback: names resolve through pasta" {
	run with_loopback_resolver runuser -u vcetest -- env -i HOME="$(home_of vcetest)" \
		PATH=/usr/bin:/bin "$ROOTLESS_VCE" run --rm tiny \
		sh -c 'cat /etc/resolv.conf; nslookup course.example'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "nameserver 169.254.1.1" ]
	[[ "$output" == *"Address: 192.0.2.77"* ]]
}

@test "rootless: --network container:NAME shares its localhost, with and without a range" {
	for user in vcetest vcetest-nosub; do
		user_vce "$user" run -d --name web tiny sh -c "$WEB"
		wait_for 50 user_vce "$user" exec web busybox wget -q -O- http://127.0.0.1/
		run user_vce "$user" run --rm --network container:web tiny sh -c \
			'busybox wget -q -O- http://127.0.0.1/; ls /proc | grep -c "^[0-9]"'
		[ "${lines[0]}" = hello-rootless ]
		# its own pid namespace: its init and sh (and ls, grep)
		[ "${lines[1]}" -le 4 ]
		user_vce "$user" rm -f web
	done
	# another student's ids are another world: said, not half-joined
	user_vce vcetest run -d --name web tiny sleep 1000
	run --separate-stderr user_vce vcetest run --rm -u 1234 \
		--network container:web tiny true
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"maps its ids for another user"* ]]
	run --separate-stderr user_vce vcetest run --rm --network container:nosuch tiny true
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"no such container"* ]]
}

@test "rootless: a way out that fails to start is one line; one that adds no route still lets the command run" {
	# where the test user can reach it
	fake=$(dirname "$ROOTLESS_VCE")/fake-bin
	mkdir -p "$fake"
	printf '#!/bin/sh\nexit 1\n' >"$fake/pasta"
	chmod 755 "$fake/pasta"
	run --separate-stderr as_user vcetest env PATH="$fake:/usr/bin:/bin" "$ROOTLESS_VCE" run --rm tiny true
	[ "$status" -eq 125 ]
	[ "$stderr" = "vce: pasta did not set up the container's network: run with --network none, or see that pasta works" ]
	[ -z "$(user_vce vcetest ps -aq)" ]
	# a host without a default route: pasta configures none, and the
	# command runs once pasta says it is done
	printf '#!/bin/sh\nsleep 0.2\nexit 0\n' >"$fake/pasta"
	run as_user vcetest env PATH="$fake:/usr/bin:/bin" "$ROOTLESS_VCE" run --rm tiny echo ran
	[ "$status" -eq 0 ]
	[ "$output" = ran ]
}
