#!/usr/bin/env bats
# vce run as a student without root: vcetest has a subordinate id range,
# vcetest-nosub has none (tests/setup-users.sh makes both).
load helpers

RUNTEST=$IMAGES/runtest

setup_file() {
	rootless_setup
}

teardown_file() {
	rootless_teardown
}

# Nothing left: no container, no mount, no process of vce's.
assert_clean() { # user
	local store
	store=$(home_of "$1")/.local/share/vce
	[ -z "$(ls -A "$store/containers")" ] || {
		echo "containers left: $(ls "$store/containers")" >&2
		return 1
	}
	! grep -q "$store" /proc/self/mountinfo
	# vce and the container's init share the command line; the rest of
	# a container dies with its init
	! pgrep -f "$ROOTLESS_VCE" >/dev/null || {
		echo "processes left: $(pgrep -af "$ROOTLESS_VCE")" >&2
		return 1
	}
}

@test "rootless: run, exit codes, a command not found" {
	for user in vcetest vcetest-nosub; do
		run user_vce "$user" run --rm tiny sh -c 'echo hello; exit 3'
		[ "$status" -eq 3 ]
		[ "$output" = "hello" ]
		run -127 user_vce "$user" run --rm tiny no-such-command
		assert_clean "$user"
	done
}

@test "rootless with a range: files the student writes to a -v folder are the student's" {
	home=$(home_of vcetest)
	run user_vce vcetest run --rm -v "$home/course:/home/jovyan/work" runtest \
		sh -c 'echo notebook >work/nb.ipynb; id -u'
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "1000" ]
	# created by vce, owned by the student, and so is what jovyan wrote
	[ "$(stat -c %U "$home/course")" = vcetest ]
	[ "$(stat -c %U:%G "$home/course/nb.ipynb")" = vcetest:vcetest ]
	assert_clean vcetest
}

@test "rootless with a range: the image's owners are kept; root can chown and setuid" {
	run user_vce vcetest run --rm --entrypoint "" runtest sh -c \
		'stat -c "%u:%g %n" / /bin/busybox /home/jovyan; id -u'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "0:0 /" ]
	[ "${lines[1]}" = "0:0 /bin/busybox" ]
	[ "${lines[2]}" = "1000:100 /home/jovyan" ]
	# a docker-stacks style root start: chown, then drop to NB_UID
	home=$(home_of vcetest)
	run user_vce vcetest run --rm -u root -e NB_UID=1000 -e NB_GID=100 \
		-v "$home/course:/home/jovyan/work" --entrypoint "" runtest sh -c \
		'touch /home/jovyan/work/by-root && chown 1000:100 /home/jovyan/work/by-root &&
		 chown 123:456 /tmp && su -s /bin/sh jovyan -c "id -u; touch work/by-student"'
	[ "$status" -eq 0 ]
	[ "$output" = "1000" ]
	[ "$(stat -c %U "$home/course/by-student")" = vcetest ]
	[ "$(stat -c %U "$home/course/by-root")" = vcetest ]
	assert_clean vcetest
}

@test "rootless without a range: only the student is mapped, everything is theirs" {
	home=$(home_of vcetest-nosub)
	run user_vce vcetest-nosub --verbose run --rm -v "$home/course:/home/jovyan/work" runtest \
		sh -c 'cat /proc/self/uid_map; stat -c %u /bin/busybox; touch work/mine'
	[ "$status" -eq 0 ]
	[[ "$output" == *"no subordinate ids"* ]]
	[[ "$(echo "$output" | grep -E '^ +1000 ')" == *" 1"* ]]
	[ "$(stat -c %U "$home/course/mine")" = vcetest-nosub ]
	assert_clean vcetest-nosub
}

@test "rootless: the security defaults hold" {
	for user in vcetest vcetest-nosub; do
		for t in mount unshare-user keyctl init-module write-proc-sys exe-write exe-reopen; do
			run user_vce "$user" run --rm --entrypoint "" -u root runtest /probe/probe "$t"
			echo "$user $t: $output"
			[[ "$output" == denied* ]]
		done
		run user_vce "$user" run --rm tiny grep CapBnd /proc/self/status
		[ "$output" = "CapBnd:	00000000a80425fb" ]
		run user_vce "$user" run --rm --entrypoint "" runtest /probe/probe fds
		[ "$output" = "" ]
	done
}

@test "rootless: -t, signals, --read-only, --tmpfs" {
	run script -qec "runuser -u vcetest -- env -i HOME=$(home_of vcetest) PATH=/usr/bin:/bin \
		$ROOTLESS_VCE run --rm -it tiny sh -c 'tty; exit 6'" /dev/null
	[ "$status" -eq 6 ]
	[[ "$output" == *"/dev/pts/0"* ]]
	run user_vce vcetest run --rm --read-only --tmpfs /scratch tiny sh -c 'touch /scratch/a && touch /b'
	[ "$status" -ne 0 ]
	[[ "$output" == *"/b: Read-only file system"* ]]
	as_user vcetest "$ROOTLESS_VCE" run --rm tiny sleep 61 &
	runuser_pid=$!
	sleep 1
	pid=$(pgrep -u vcetest -f "vce run --rm tiny sleep 61" | head -1)
	kill -TERM "$pid"
	status=0
	wait "$runuser_pid" || status=$?
	[ "$status" -eq 143 ]
	assert_clean vcetest
}

@test "rootless: user namespaces switched off is one line that says what to enable" {
	old=$(sysctl -n user.max_user_namespaces)
	sysctl -qw user.max_user_namespaces=0 2>/dev/null ||
		skip "this machine does not let root change user.max_user_namespaces"
	run --separate-stderr user_vce vcetest run --rm tiny true
	sysctl -qw user.max_user_namespaces="$old"
	[ "$status" -eq 125 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"user namespaces"* ]]
	assert_clean vcetest
}

@test "rootless: fuse-overlayfs is the fallback where the kernel's overlay is refused" {
	command -v fuse-overlayfs
	run as_user vcetest env VCE_FORCE_FUSE_OVERLAYFS=1 "$ROOTLESS_VCE" run --rm tiny cat /etc/motd
	[ "$status" -eq 0 ]
	[ "$output" = "upper layer content" ]
}
