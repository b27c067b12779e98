#!/usr/bin/env bats
# Networking as root: -p through the forwarder (HTTP, a large transfer
# both ways, half-close, refused then working, many clients at once, UDP,
# IPv6), -P, the modes (none, host, container:NAME), the way out to the
# host's loopback (pasta, and slirp4netns without it), and the errors. Rootless: net-rootless.bats.
load helpers

NETCLIENT=$BATS_TEST_DIRNAME/../tools/netclient.py
WEB='mkdir -p /www && echo hello-from-inside >/www/index.html && exec httpd -f -p 80 -h /www'

setup() {
	export VCE_ROOT=$BATS_TEST_TMPDIR/store
	vce load -q -i "$TINY/oci-zstd.tar"
}

teardown() {
	for id in $(vce ps -aq 2>/dev/null); do vce rm -f "$id" >/dev/null 2>&1; done
}

host_port() { # container port[/proto]
	vce port "$1" "$2" | head -1 | sed 's/.*://'
}

fetch() { # url
	curl -sS -m 5 -g "$1"
}

# serving CONTAINER PORT: its server answers on the host port. A python
# server starts slowly on a loaded machine (the ASan suite): a minute, and
# what the container said if it never does.
serving() {
	wait_for 600 fetch "http://127.0.0.1:$2/" 2>/dev/null && return 0
	vce logs "$1"
	vce ps -a
	return 1
}

supervisor_fds() { # container
	local pid
	pid=$(jq -r .supervisor_pid "$VCE_ROOT"/containers/"$(vce inspect "$1" | jq -r '.[0].Id')"/state.json)
	ls /proc/"$pid"/fd | wc -l
}

@test "net: -p forwards HTTP on IPv4 and IPv6; ps, port and inspect show it" {
	vce run -d --name web -p 80 tiny sh -c "$WEB"
	port=$(host_port web 80)
	wait_for 50 fetch "http://127.0.0.1:$port/"
	[ "$(fetch "http://127.0.0.1:$port/")" = hello-from-inside ]
	[ "$(fetch "http://[::1]:$port/")" = hello-from-inside ]
	run vce port web
	[ "${lines[0]}" = "80/tcp -> 0.0.0.0:$port" ]
	[ "${lines[1]}" = "80/tcp -> [::]:$port" ]
	vce ps | grep -q "0.0.0.0:$port->80/tcp"
	[ "$(vce inspect web | jq -r '.[0].NetworkSettings.Ports["80/tcp"][0].HostPort')" = "$port" ]
}

@test "net: a fixed host port and an address: 127.0.0.1 only" {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("",0)); print(s.getsockname()[1])')
	vce run -d --name web -p "127.0.0.1:$port:80" tiny sh -c "$WEB"
	wait_for 50 fetch "http://127.0.0.1:$port/"
	run vce port web 80
	[ "$output" = "127.0.0.1:$port" ]
	! curl -sS -m 2 -g "http://[::1]:$port/"
}

@test "net: 1 GiB to the container and 256 MiB back arrive intact" {
	vce run -d --name sink -p 9000 -p 9001 tiny sh -c \
		'head -c 268435456 /dev/urandom >/tmp/blob; sha256sum </tmp/blob >/tmp/blob.sum;
		 (nc -l -p 9001 </tmp/blob &); nc -l -p 9000 | sha256sum >/tmp/in.sum; sleep 1000'
	in=$(host_port sink 9000)
	out=$(host_port sink 9001)
	wait_for 100 vce exec sink test -s /tmp/blob.sum
	mkfifo "$BATS_TEST_TMPDIR/copy"
	sha256sum <"$BATS_TEST_TMPDIR/copy" >"$BATS_TEST_TMPDIR/sent.sum" &
	head -c 1073741824 /dev/urandom | tee "$BATS_TEST_TMPDIR/copy" >"/dev/tcp/127.0.0.1/$in"
	wait $!
	wait_for 100 vce exec sink test -s /tmp/in.sum
	[ "$(vce exec sink cat /tmp/in.sum | cut -d' ' -f1)" = "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/sent.sum")" ]
	got=$(timeout 60 sha256sum <"/dev/tcp/127.0.0.1/$out" | cut -d' ' -f1)
	[ "$got" = "$(vce exec sink cat /tmp/blob.sum | cut -d' ' -f1)" ]
}

@test "net: half-close: the server reads to the end, then answers" {
	vce run -d --name echo -p 7000 tiny sh -c \
		'exec nc -ll -p 7000 -e sh -c "wc -c | sed s/^/got-/"'
	port=$(host_port echo 7000)
	wait_for 50 "$NETCLIENT" halfclose 127.0.0.1 "$port" ""
	run "$NETCLIENT" halfclose 127.0.0.1 "$port" "twelve bytes"
	[ "$output" = "got-12" ]
}

@test "net: a port nobody listens on is refused, and works once the server is up" {
	vce run -d --name late -p 80 tiny sleep 1000
	port=$(host_port late 80)
	run curl -sS -m 5 "http://127.0.0.1:$port/"
	[ "$status" -ne 0 ]
	[ "$status" -ne 28 ] # refused at once, not a timeout
	vce exec -d late sh -c "$WEB" 2>/dev/null || vce exec late sh -c "$WEB" &
	wait_for 50 fetch "http://127.0.0.1:$port/"
	[ "$(fetch "http://127.0.0.1:$port/")" = hello-from-inside ]
}

# A server with a backlog for them (busybox httpd listens with 9: its
# dropped SYNs would be what is measured).
@test "net: 1000 clients at once are all answered; no fd is left behind" {
	vce load -q -i "$JUPYTER/oci-zstd.tar"
	vce run -d --name web -p 80 --entrypoint python3 jupyter -c '
import http.server
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 2048
Server(("0.0.0.0", 80), http.server.SimpleHTTPRequestHandler).serve_forever()'
	port=$(host_port web 80)
	serving web "$port"
	before=$(supervisor_fds web)
	run "$NETCLIENT" many 127.0.0.1 "$port" 1000
	[ "$output" = 1000 ]
	wait_for 50 [ "$(supervisor_fds web)" -le "$before" ]
}

@test "net: stopping frees the port at once; -p on a port in use names its holder" {
	vce run -d --name web -p 80 tiny sh -c "$WEB"
	port=$(host_port web 80)
	run_fails_cleanly vce run --rm -p "$port:80" tiny true
	[[ "$stderr" == *"host port $port/tcp is already in use by vce container"* ]]
	vce stop -t 1 web
	python3 -c "import socket; s=socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('::', $port)); s.listen()"
	vce run --rm -p "$port:80" tiny true
}

@test "net: bad -p and --network are refused with what to write" {
	run_fails_cleanly vce run --rm -p 70000:80 tiny true
	[[ "$stderr" == *"-p [IP:][HOSTPORT:]PORT"* ]]
	run_fails_cleanly vce run --rm -p 80/sctp tiny true
	run_fails_cleanly vce run --rm -p 1.2.3:80:80 tiny true
	run_fails_cleanly vce run --rm --network bridge0 tiny true
	run_fails_cleanly vce run --rm --network none -p 80 tiny true
	[[ "$stderr" == *"--network none has no network to publish"*"leave out -p"* ]]
	run_fails_cleanly vce run --rm --network container:other -p 80 tiny true
	[[ "$stderr" == *"publish the ports on other"* ]]
	run_fails_cleanly vce run --rm -p 192.0.2.77:8080:80 tiny true
	[[ "$stderr" == *"not an address of this machine"* ]]
}

@test "net: --network none has loopback only; host has the host's interfaces" {
	run vce run --rm --network none tiny ls /sys/class/net
	[ "$output" = lo ]
	run vce run --rm --network host tiny ls /sys/class/net
	[ "$output" = "$(ls /sys/class/net)" ]
}

@test "net: --network container:NAME shares its localhost" {
	vce run -d --name web tiny sh -c "$WEB"
	wait_for 50 vce exec web busybox wget -q -O- http://127.0.0.1/
	run vce run --rm --network container:web tiny busybox wget -q -O- http://127.0.0.1/
	[ "$output" = hello-from-inside ]
	run_fails_cleanly vce run --rm --network container:nosuch tiny true
}

# A web server on the host's loopback: $server its pid, $port its port.
serve_on_host_loopback() {
	python3 -m http.server --bind 127.0.0.1 0 >"$BATS_TEST_TMPDIR/http.log" 2>&1 &
	server=$!
	wait_for 50 grep -q "port" "$BATS_TEST_TMPDIR/http.log"
	port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$BATS_TEST_TMPDIR/http.log" | head -1)
}

@test "net: the container reaches a server on the host's loopback" {
	serve_on_host_loopback
	run vce run --rm tiny busybox wget -q -O- "http://host.containers.internal:$port/"
	kill "$server"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Directory listing"* ]]
}

@test "net: a host whose only resolver is on its loopback: names resolve through pasta" {
	run with_loopback_resolver "$VCE" run --rm tiny sh -c 'cat /etc/resolv.conf; nslookup course.example'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "nameserver 169.254.1.1" ]
	[[ "$output" == *"Address: 192.0.2.77"* ]]
}

# A PATH with slirp4netns and no pasta.
only_slirp4netns() {
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	ln -sf "$(command -v slirp4netns)" "$BATS_TEST_TMPDIR/bin/slirp4netns"
	echo "$BATS_TEST_TMPDIR/bin"
}

@test "net: without pasta, slirp4netns is the way out: the host's loopback and its names" {
	serve_on_host_loopback
	run env PATH="$(only_slirp4netns)" "$VCE" run --rm tiny busybox wget -q -O- "http://host.containers.internal:$port/"
	kill "$server"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Directory listing"* ]]
	run with_loopback_resolver env PATH="$(only_slirp4netns)" "$VCE" run --rm tiny \
		sh -c 'cat /etc/resolv.conf; nslookup course.example'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "nameserver 10.0.2.3" ]
	[[ "$output" == *"Address: 192.0.2.77"* ]]
}

pasta_of() { # container id
	pgrep -f "pasta .*/run/vce/netns/$1" >/dev/null
}

@test "net: a detached container's pasta leaves with it, also when its supervisor was killed" {
	a=$(vce run -d tiny sleep 1000)
	b=$(vce run -d --userns keep-id tiny sleep 1000)
	wait_for 50 pasta_of "$a"
	wait_for 50 pasta_of "$b"
	# the way out works as root in a user namespace too
	serve_on_host_loopback
	run vce exec "$b" busybox wget -q -O- "http://host.containers.internal:$port/"
	kill "$server"
	[[ "$output" == *"Directory listing"* ]]
	vce stop -t 1 "$a"
	wait_for 50 eval '! pasta_of "$a"'
	[ ! -e "/run/vce/netns/$a" ]
	sup=$(jq -r .supervisor_pid "$VCE_ROOT/containers/$b/state.json")
	kill -9 "$sup"
	vce rm -f "$b"
	wait_for 50 eval '! pasta_of "$b"'
	[ ! -e "/run/vce/netns/$b" ]
	[ "$(grep -c "/run/vce/netns/$b" /proc/mounts)" = 0 ]
	vce rm "$a"
}

@test "net: a container that fails while its way out starts says its own error, and leaves nothing" {
	handles=$(ls -A /run/vce/netns 2>/dev/null | wc -l)
	# the mount fails while pasta joins the namespace, or before
	for _ in 1 2 3 4 5; do
		run_fails_cleanly vce run --rm -v /tmp:/sys/fs/cgroup/x tiny true
		[[ "$stderr" == *"/sys/fs/cgroup/x: Read-only file system"* ]]
	done
	[ "$(ls -A /run/vce/netns 2>/dev/null | wc -l)" = "$handles" ]
}

@test "net: -P publishes the image's ExposedPorts; UDP is relayed" {
	vce load -q -i "$JUPYTER/oci-zstd.tar"
	vce run -d --name py -P -p 5353/udp --entrypoint python3 jupyter -c '
import socket, threading, http.server
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 5353))
    while True:
        data, peer = s.recvfrom(65536)
        s.sendto(b"echo:" + data, peer)
threading.Thread(target=udp, daemon=True).start()
http.server.HTTPServer(("0.0.0.0", 8888), http.server.SimpleHTTPRequestHandler).serve_forever()'
	tcp=$(host_port py 8888/tcp)
	udp=$(host_port py 5353/udp)
	[ -n "$tcp" ] && [ -n "$udp" ]
	serving py "$tcp"
	run "$NETCLIENT" udp 127.0.0.1 "$udp" ping
	[ "$output" = echo:ping ]
	run "$NETCLIENT" udp ::1 "$udp" pong
	[ "$output" = echo:pong ]
}

@test "net: --publish-default-ip and the config file make -p loopback only" {
	vce run -d --name a --publish-default-ip 127.0.0.1 -p 80 tiny sh -c "$WEB"
	run vce port a 80
	[ "${lines[0]}" = "127.0.0.1:$(host_port a 80)" ]
	[ "${lines[1]}" = "[::1]:$(host_port a 80)" ]
	echo '{"publish_default_ip": "127.0.0.1"}' >"$BATS_TEST_TMPDIR/config.json"
	VCE_CONFIG=$BATS_TEST_TMPDIR/config.json vce run -d --name b -p 80 tiny sh -c "$WEB"
	[[ "$(vce port b 80 | head -1)" == 127.0.0.1:* ]]
	echo '{"publish_default_ip": "localhost"}' >"$BATS_TEST_TMPDIR/config.json"
	VCE_CONFIG=$BATS_TEST_TMPDIR/config.json run_fails_cleanly vce run --rm -p 80 tiny true
	[[ "$stderr" == *"is not an IP address"* ]]
	run_fails_cleanly vce run --rm --publish-default-ip nowhere -p 80 tiny true
}
