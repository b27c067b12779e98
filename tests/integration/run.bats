#!/usr/bin/env bats
# vce run as root: the container, its flags, its security defaults, and
# what it leaves behind (nothing). Rootless runs: run-rootless.bats.
load helpers

RUNTEST=$IMAGES/runtest

setup() {
	export VCE_ROOT=$BATS_TEST_TMPDIR/store
	vce load -q -i "$TINY/oci-zstd.tar"
	vce load -q -i "$RUNTEST/oci.tar"
	HOSTDIR=$BATS_TEST_TMPDIR/host
}

# Nothing of a container may outlive `vce run --rm`.
assert_nothing_left() {
	if grep -q "$VCE_ROOT" /proc/self/mountinfo; then
		echo "mounts left: $(grep "$VCE_ROOT" /proc/self/mountinfo)" >&2
		return 1
	fi
	if [ -n "$(ls -A "$VCE_ROOT/containers" 2>/dev/null)" ]; then
		echo "containers left: $(ls "$VCE_ROOT/containers")" >&2
		return 1
	fi
	if [ -n "$(ls -A "$VCE_ROOT/tmp" 2>/dev/null)" ]; then
		echo "temporary files left: $(ls -A "$VCE_ROOT/tmp")" >&2
		return 1
	fi
	if pgrep -f "run --rm .*vce-test-marker" >/dev/null; then
		echo "processes left" >&2
		return 1
	fi
}

@test "run: the command's exit code is vce's" {
	run vce run --rm tiny true
	[ "$status" -eq 0 ]
	run vce run --rm tiny sh -c 'exit 3'
	[ "$status" -eq 3 ]
	run vce run --rm tiny sh -c 'kill -9 $$'
	[ "$status" -eq 137 ]
	run vce run --rm tiny sh -c 'exit 255'
	[ "$status" -eq 255 ]
	assert_nothing_left
}

@test "run: a command not in the image exits 127, one that cannot run 126" {
	run -127 --separate-stderr vce run --rm tiny no-such-command
	[ "$status" -eq 127 ]
	[[ "$stderr" == *'"no-such-command": executable file not found in $PATH'* ]]
	run --separate-stderr vce run --rm tiny /etc/motd
	[ "$status" -eq 126 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	assert_nothing_left
}

@test "run: an image that is not there is one line that says what to do, exit 125" {
	run_fails_cleanly vce run --rm --pull=never no-such-image true
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"vce load"* ]]
	[ -z "$(ls -A "$VCE_ROOT/containers")" ]
	# without --pull=never it is pulled first, as docker does: its notice,
	# then the pull's one line
	run --separate-stderr vce run --rm 127.0.0.1:1/no-such-image true
	[ "$status" -eq 125 ]
	[ "${stderr_lines[0]}" = "Unable to find image '127.0.0.1:1/no-such-image' locally" ]
	[[ "${stderr_lines[1]}" == *"cannot reach"*"127.0.0.1"* ]]
	[ "${#stderr_lines[@]}" -eq 2 ]
	[ -z "$(ls -A "$VCE_ROOT/containers")" ]
}

@test "run: the image's Entrypoint, Cmd, User, WorkingDir, Env and StopSignal are honoured" {
	run vce run --name stopsig runtest true
	[ "$(jq -r .stop_signal "$VCE_ROOT"/containers/*/state.json)" = SIGINT ]
	run vce run --rm runtest
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "entry echo default cmd" ]
	[ "${lines[1]}" = "default cmd" ]
	run vce run --rm runtest sh -c 'echo $(id -u):$(id -g) $PWD $COURSE $HOME $HOSTNAME'
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == "1000:100 /home/jovyan tm351 /home/jovyan "* ]]
	# --entrypoint replaces it and drops the image's Cmd, as Docker does
	run vce run --rm --entrypoint /bin/echo runtest hello
	[ "$output" = "hello" ]
	run vce run --rm --entrypoint "" runtest echo no entrypoint
	[ "$output" = "no entrypoint" ]
}

@test "run: -e, --env-file, -w, -u, --hostname" {
	printf '# a comment\nFROM_FILE=yes\n\nCOURSE=overridden\n' >"$BATS_TEST_TMPDIR/env"
	export PASSED_ON=from-host
	run vce run --rm -e A=1 -e PASSED_ON -e UNSET_ONE --env-file "$BATS_TEST_TMPDIR/env" \
		--entrypoint /bin/env runtest
	[ "$status" -eq 0 ]
	[[ "$output" == *"A=1"* ]]
	[[ "$output" == *"PASSED_ON=from-host"* ]]
	[[ "$output" == *"FROM_FILE=yes"* ]]
	[[ "$output" == *"COURSE=overridden"* ]]
	[[ "$output" != *"UNSET_ONE"* ]]
	run vce run --rm -w /made/by/vce --entrypoint "" runtest sh -c 'echo $PWD'
	[ "$output" = "/made/by/vce" ]
	run vce run --rm -u root --entrypoint "" runtest id
	[[ "$output" == "uid=0(root) gid=0(root)"* ]]
	run vce run --rm -u 1234:4321 --entrypoint "" runtest id
	[ "$output" = "uid=1234 gid=4321 groups=4321" ]
	run vce run --rm -u nobody --entrypoint "" runtest id -un
	[ "$output" = "nobody" ]
	run vce run --rm -u jovyan --entrypoint "" runtest id -G
	[ "$output" = "100 200" ]
	run vce run --rm --hostname course-box --entrypoint "" runtest sh -c 'hostname; cat /etc/hostname'
	[ "${lines[0]}" = "course-box" ]
	[ "${lines[1]}" = "course-box" ]
}

@test "run: an invalid -u, -w or -e is one line and exit 125" {
	run_fails_cleanly vce run --rm -u no-such-user tiny true
	[ "$status" -eq 125 ]
	run_fails_cleanly vce run --rm -u 1000:no-such-group tiny true
	run_fails_cleanly vce run --rm -u 1:2:3 tiny true
	run_fails_cleanly vce run --rm -w relative/dir tiny true
	run_fails_cleanly vce run --rm -e =x tiny true
	[ -z "$(ls -A "$VCE_ROOT/containers")" ]
}

@test "run: -v binds a host folder (created if missing), :ro is read-only" {
	run vce run --rm -v "$HOSTDIR/new:/data" tiny sh -c 'echo hi >/data/file'
	[ "$status" -eq 0 ]
	[ "$(cat "$HOSTDIR/new/file")" = "hi" ]
	run vce run --rm -v "$HOSTDIR/new:/data:ro" tiny sh -c 'cat /data/file; echo no >/data/file'
	[ "$status" -ne 0 ]
	[ "${lines[0]}" = "hi" ]
	[[ "$output" == *"Read-only file system"* ]]
	[ "$(cat "$HOSTDIR/new/file")" = "hi" ]
	# a single file, and the --mount spelling
	echo content >"$HOSTDIR/one"
	run vce run --rm --mount "type=bind,source=$HOSTDIR/one,target=/etc/one,readonly" tiny \
		sh -c 'cat /etc/one; echo x >/etc/one'
	[ "${lines[0]}" = "content" ]
	[ "$status" -ne 0 ]
	assert_nothing_left
}

@test "run: --tmpfs and --mount type=tmpfs; --read-only" {
	run vce run --rm --tmpfs /scratch:size=1m --mount type=tmpfs,target=/other tiny \
		sh -c 'grep -E " /(scratch|other) " /proc/mounts | cut -d" " -f1,3 | sort'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "tmpfs tmpfs" ]
	[ "${#lines[@]}" -eq 2 ]
	run vce run --rm --read-only --tmpfs /tmp tiny sh -c 'touch /tmp/ok && touch /nope'
	[ "$status" -ne 0 ]
	[[ "$output" == *"/nope: Read-only file system"* ]]
}

@test "run: bad mount specs are one line, exit 125" {
	run_fails_cleanly vce run --rm -v relative-volume-name:/x tiny true
	run_fails_cleanly vce run --rm -v /tmp:relative tiny true
	run_fails_cleanly vce run --rm -v /tmp:/a/../b tiny true
	run_fails_cleanly vce run --rm -v /tmp tiny true
	run_fails_cleanly vce run --rm --mount type=volume,target=/x tiny true
	run_fails_cleanly vce run --rm --mount type=bind,target=/x tiny true
}

@test "run: a -v target through a symlink to / is refused (CVE-2021-30465)" {
	run_fails_cleanly vce run --rm -v "$HOSTDIR:/to-root" runtest true
	# (without openat2, no symlink is followed at all)
	[[ "$stderr" == *"/to-root is a symlink that leads to the container's root"* ||
		("$VCE_NO_OPENAT2" = 1 && "$stderr" == *"/to-root goes through a symlink"*) ]]
	run_fails_cleanly vce run --rm -v "$HOSTDIR:/to-above" runtest true
	# a symlink inside the container resolves inside it, never out
	[ "${VCE_NO_OPENAT2:-}" != 1 ] || return 0
	mkdir -p "$HOSTDIR"
	run vce run --rm -u root -v "$HOSTDIR:/to-above/mnt/x" runtest sh -c 'touch /mnt/x/inside'
	[ "$status" -eq 0 ]
	[ -f "$HOSTDIR/inside" ]
	[ ! -e /mnt/x ]
	assert_nothing_left
}

@test "run: -i passes standard input; without it the command reads nothing" {
	run bash -c "echo piped | '$VCE' run --rm -i tiny cat"
	[ "$output" = "piped" ]
	run bash -c "echo piped | '$VCE' run --rm tiny cat"
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
}

@test "run: -t gives the command a terminal of the container's own, sized as vce's" {
	run script -qec "stty rows 31 cols 97; '$VCE' run --rm -it tiny sh -c 'tty; stty size; exit 4'" /dev/null
	[ "$status" -eq 4 ]
	[[ "$output" == *"/dev/pts/0"* ]]
	[[ "$output" == *"31 97"* ]]
}

@test "run: signals reach the command through init; SIGTERM gives 143" {
	"$VCE" run --rm tiny sleep 100 &
	pid=$!
	sleep 0.5
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 143 ]
	"$VCE" run --rm tiny sh -c 'trap "exit 7" USR1; while :; do sleep 0.1; done' &
	pid=$!
	sleep 0.5
	kill -USR1 "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 7 ]
	assert_nothing_left
}

@test "run: init is pid 1 and reaps zombies; --no-init makes the command pid 1" {
	run vce run --rm --entrypoint "" runtest sh -c '/probe/probe zombies; ps -o stat | grep -c Z'
	[ "$output" = "0" ]
	run vce run --rm --entrypoint "" runtest sh -c 'cat /proc/1/comm'
	[ "$output" = "vce" ]
	run vce run --rm --no-init --entrypoint "" runtest sh -c 'echo $$'
	[ "$output" = "1" ]
}

@test "run: Docker's capabilities, --cap-add, --cap-drop, --privileged" {
	run vce run --rm tiny grep CapBnd /proc/self/status
	[ "$output" = "CapBnd:	00000000a80425fb" ]
	run vce run --rm tiny grep CapEff /proc/self/status
	[ "$output" = "CapEff:	00000000a80425fb" ]
	run vce run --rm --cap-drop ALL --cap-add NET_ADMIN tiny grep CapEff /proc/self/status
	[ "$output" = "CapEff:	0000000000001000" ]
	run vce run --rm --cap-drop chown tiny grep CapEff /proc/self/status
	[ "$output" = "CapEff:	00000000a80425fa" ]
	# a non-root user has none, and cannot win them back
	run vce run --rm -u 1000 tiny grep -E 'Cap(Eff|Prm)' /proc/self/status
	[ "${lines[0]}" = "CapPrm:	0000000000000000" ]
	[ "${lines[1]}" = "CapEff:	0000000000000000" ]
	run vce run --rm --privileged -u root --entrypoint "" runtest /probe/probe mount
	[ "$output" = "ALLOWED" ]
	run_fails_cleanly vce run --rm --cap-add NO_SUCH_CAP tiny true
}

@test "run: the security defaults hold (seccomp, masked and read-only paths, no host pids)" {
	for t in mount unshare-user clone-newns keyctl add-key init-module ptrace-1 write-proc-sys \
		read-kcore; do
		run vce run --rm --entrypoint "" -u root runtest /probe/probe "$t"
		echo "$t: $output"
		[ "$status" -eq 0 ]
		[[ "$output" == denied* ]]
	done
	# only the container's own processes: init, sh, ls, grep
	run vce run --rm tiny sh -c 'ls /proc | grep -E "^[0-9]+$" | wc -l'
	[ "$output" -le 5 ]
	run vce run --rm tiny ls /dev
	[ "$(echo $output)" = "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero" ]
	run vce run --rm tiny sh -c 'cat /proc/timer_list | wc -c; cat /proc/keys | wc -c'
	[ "$(echo $output)" = "0 0" ]
	run vce run --rm tiny sh -c 'touch /sys/x'
	[ "$status" -ne 0 ]
}

@test "run: --security-opt seccomp=unconfined, a profile file, a bad one; no-new-privileges" {
	run vce run --rm --security-opt seccomp=unconfined --entrypoint "" -u root runtest /probe/probe keyctl
	[ "$output" = "ALLOWED" ]
	cat >"$BATS_TEST_TMPDIR/profile.json" <<-'EOF'
	{"defaultAction": "SCMP_ACT_ALLOW",
	 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
	EOF
	run vce run --rm --security-opt "seccomp=$BATS_TEST_TMPDIR/profile.json" tiny mkdir /x
	[ "$status" -ne 0 ]
	[[ "$output" == *"Permission denied"* ]]
	echo '{"defaultAction": ' >"$BATS_TEST_TMPDIR/bad.json"
	run_fails_cleanly vce run --rm --security-opt "seccomp=$BATS_TEST_TMPDIR/bad.json" tiny true
	[[ "$stderr" == *"malformed JSON"* ]]
	run_fails_cleanly vce run --rm --security-opt seccomp=/no/such/file.json tiny true
	run vce run --rm tiny grep NoNewPrivs /proc/self/status
	[ "$output" = "NoNewPrivs:	0" ]
	run vce run --rm --security-opt no-new-privileges tiny grep NoNewPrivs /proc/self/status
	[ "$output" = "NoNewPrivs:	1" ]
}

@test "run: no fd of vce's reaches the command; its cwd is inside (CVE-2024-21626)" {
	exec 7</etc/hostname
	run vce run --rm -w /home --entrypoint "" runtest sh -c '/probe/probe fds; readlink /proc/self/cwd'
	exec 7<&-
	[ "$status" -eq 0 ]
	[ "$output" = "/home" ]
}

@test "run: the container cannot reach vce's binary through /proc (CVE-2019-5736)" {
	before=$(sha256sum "$VCE" | cut -d' ' -f1)
	run vce run --rm --entrypoint "" -u root runtest /probe/probe exe-write
	[[ "$output" == denied* ]]
	run vce run --rm --entrypoint "" -u root runtest /probe/probe exe-reopen
	[[ "$output" == denied* ]]
	run vce run --rm --entrypoint "" -u root runtest sh -c 'echo x > /proc/1/exe'
	[ "$status" -ne 0 ]
	[ "$(sha256sum "$VCE" | cut -d' ' -f1)" = "$before" ]
}

@test "run: without --rm the container stays, exited, and keeps its image from rmi" {
	run vce run --name keeper tiny sh -c 'echo kept >/note; exit 5'
	[ "$status" -eq 5 ]
	state=$(cat "$VCE_ROOT"/containers/*/state.json)
	[ "$(jq -r .name <<<"$state")" = keeper ]
	[ "$(jq -r .status <<<"$state")" = exited ]
	[ "$(jq -r .exit_code <<<"$state")" = 5 ]
	[ "$(jq -r .image_name <<<"$state")" = tiny ]
	[ "$(jq -r .created <<<"$state")" \< "$(jq -r .finished <<<"$state")" ]
	[ "$(cat "$VCE_ROOT"/containers/*/upper/note)" = kept ]
	run_fails_cleanly vce run --name keeper tiny true
	[[ "$stderr" == *'name "keeper" is in use'* ]]
	run vce rmi tiny
	[ "$status" -ne 0 ]
	[[ "$output" == *"used by container keeper"* ]]
	# forced, the image goes; the layers the container is made of stay
	run vce rmi -f tiny
	[ "$status" -eq 0 ]
	for d in $(jq -r '.layers[]' <<<"$state"); do
		[ -d "$VCE_ROOT/rootfs-cache/${d#sha256:}/rootfs" ]
	done
	! grep -q "$VCE_ROOT" /proc/self/mountinfo
}

@test "run: as root, a -v folder vce creates is the student's: the image's user, NB_UID, or sudo's" {
	# jovyan (1000:100 in runtest) can save into it; parents made too
	vce run --rm -v "$HOSTDIR/a/b:/home/jovyan/work" runtest sh -c 'touch work/mine'
	[ "$(stat -c %u:%g "$HOSTDIR/a" "$HOSTDIR/a/b" "$HOSTDIR/a/b/mine" | sort -u)" = 1000:100 ]
	# a docker-stacks root start: NB_UID and NB_GID
	vce run --rm -u root -e NB_UID=1234 -e NB_GID=1234 -v "$HOSTDIR/nb:/work" runtest true
	[ "$(stat -c %u:%g "$HOSTDIR/nb")" = 1234:1234 ]
	# root in the container, vce under sudo: the sudo user's
	env SUDO_UID=4242 SUDO_GID=4343 "$VCE" run --rm -v "$HOSTDIR/s:/data" tiny true
	[ "$(stat -c %u:%g "$HOSTDIR/s")" = 4242:4343 ]
	# and a folder that exists keeps its owner
	mkdir "$HOSTDIR/mine"
	vce run --rm -v "$HOSTDIR/mine:/home/jovyan/work" runtest true
	[ "$(stat -c %u "$HOSTDIR/mine")" = 0 ]
}

@test "run: --userns=keep-id as root maps the student to the invoking user" {
	run env SUDO_UID=4242 SUDO_GID=4343 "$VCE" run --rm --userns keep-id \
		-v "$HOSTDIR/k:/home/jovyan/work" runtest sh -c 'touch work/mine; ls -ln /home'
	[ "$status" -eq 0 ]
	[[ "$output" == *" 1000 "*" 100 "*"jovyan"* ]]
	[ "$(stat -c %u:%g "$HOSTDIR/k/mine")" = "4242:4343" ]
}
