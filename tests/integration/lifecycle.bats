#!/usr/bin/env bats
# Detached containers as root: run -d, the supervisor, and every lifecycle
# verb; what kill -9 and a reboot leave; limits. Rootless:
# lifecycle-rootless.bats.
load helpers

RUNTEST=$IMAGES/runtest

setup() {
	export VCE_ROOT=$BATS_TEST_TMPDIR/store
	vce load -q -i "$TINY/oci-zstd.tar"
	vce load -q -i "$RUNTEST/oci.tar"
}

teardown() {
	# Whatever a failed test left running.
	for id in $(vce ps -q 2>/dev/null); do vce rm -f "$id" >/dev/null 2>&1; done
}

state_of() { # container field
	vce inspect "$1" | jq -r ".[0].State.$2"
}

cgroup_dirs_of() { # full id
	ls -d /sys/fs/cgroup/*/vce/"$1" /sys/fs/cgroup/unified/vce/"$1" 2>/dev/null || true
}

# Nothing of the store's containers is left: no process, mount, cgroup,
# supervisor, container directory.
assert_all_gone() {
	[ -z "$(ls -A "$VCE_ROOT/containers" 2>/dev/null)" ] || {
		echo "containers left: $(ls "$VCE_ROOT/containers")" >&2
		return 1
	}
	! grep -q "$VCE_ROOT" /proc/self/mountinfo || {
		echo "mounts left" >&2
		return 1
	}
	! pgrep -f "__supervise $VCE_ROOT" >/dev/null || {
		echo "supervisors left" >&2
		return 1
	}
	! pgrep -f "vce-test-marke[r]" >/dev/null || {
		echo "container processes left" >&2
		return 1
	}
}

@test "run -d: prints the id, runs in the background, ps and logs show it" {
	run vce run -d --name web tiny sh -c 'echo out-line; echo err-line >&2; sleep 1000; :' vce-test-marker
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^[0-9a-f]{64}$ ]]
	id=$output
	run vce ps
	[[ "$output" == *"${id:0:12}"*"Up "*"web"* ]]
	wait_for 30 sh -c "'$VCE' logs web 2>&1 | grep -q err-line"
	run --separate-stderr vce logs web
	[ "$output" = "out-line" ]
	[ "$stderr" = "err-line" ]
	run --separate-stderr vce logs -t web
	[[ "$output" =~ ^20[0-9-]+T[0-9:.]+Z\ out-line$ ]]
	[ "$(state_of web Running)" = true ]
	pid=$(state_of web Pid)
	[ -d "/proc/$pid" ]
	# The supervisor is nobody's child: its parent is not this shell.
	sup=$(pgrep -f "__supervise $VCE_ROOT")
	[ "$(awk '{print $4}' /proc/"$sup"/stat)" != "$$" ]
	[ -z "$(ls -l /proc/"$sup"/fd | grep -E 'pts|tty')" ]
	vce rm -f web
	assert_all_gone
}

@test "stop: the image's StopSignal, then SIGKILL after -t" {
	# runtest's StopSignal is SIGINT: sleep dies of it (130).
	vce run -d --name a runtest sleep 1000
	run vce stop a
	[ "$status" -eq 0 ]
	[ "$output" = a ]
	[ "$(state_of a Status)" = exited ]
	[ "$(state_of a ExitCode)" = 130 ]
	# A command that ignores it is killed after the timeout.
	vce run -d --name b tiny sh -c 'trap "" TERM INT; while true; do sleep 0.1; done; : vce-test-marker'
	start=$(date +%s%N)
	vce stop -t 1 b
	elapsed=$((($(date +%s%N) - start) / 1000000))
	[ "$(state_of b ExitCode)" = 137 ]
	[ "$elapsed" -ge 900 ]
	[ -n "$(state_of b FinishedAt)" ]
	# Stopping a stopped container is no error, as with docker.
	run vce stop b
	[ "$status" -eq 0 ]
	vce rm a b
	assert_all_gone
}

@test "stop and start keep what was changed inside; rm removes it but not a bind-mounted folder" {
	mkdir -p "$BATS_TEST_TMPDIR/host"
	echo precious >"$BATS_TEST_TMPDIR/host/keep.txt"
	vce run -d --name c -v "$BATS_TEST_TMPDIR/host:/data" tiny sh -c 'sleep 1000; :' vce-test-marker
	vce exec c sh -c 'echo changed > /etc/motd; echo written > /data/new.txt'
	vce stop -t 1 c
	vce start c
	[ "$(state_of c Status)" = running ]
	run vce exec c cat /etc/motd
	[ "$output" = changed ]
	vce restart -t 1 c
	run vce exec c cat /etc/motd
	[ "$output" = changed ]
	vce rm -f c
	[ "$(cat "$BATS_TEST_TMPDIR/host/keep.txt")" = precious ]
	[ "$(cat "$BATS_TEST_TMPDIR/host/new.txt")" = written ]
	assert_all_gone
}

@test "exec: every namespace and the cgroup of the container, its code, -u -w -e -i" {
	vce run -d --name e --hostname box -m 64m tiny sh -c 'sleep 1000; :' vce-test-marker
	run vce exec e cat /etc/hostname
	[ "$output" = box ]
	# The container's pid namespace: its init is pid 1 there.
	run vce exec e sh -c 'cat /proc/1/cmdline | tr "\0" " "'
	[[ "$output" == *"vce-test-marker"* || "$output" == *vce* ]]
	run vce exec e sh -c 'exit 7'
	[ "$status" -eq 7 ]
	run vce exec -u 1000:100 -w /tmp -e GREETING=hi e sh -c 'echo $(id -u):$(id -g) $PWD $GREETING'
	[ "$output" = "1000:100 /tmp hi" ]
	run vce exec -i e cat <<<"from stdin"
	[ "$output" = "from stdin" ]
	# The cgroup: the container's limit applies to exec'd processes.
	id=$(vce inspect e | jq -r '.[0].Id')
	mem=$(ls -d /sys/fs/cgroup/memory/vce/"$id" 2>/dev/null || ls -d /sys/fs/cgroup/vce/"$id")
	run vce exec e sh -c 'cat /proc/self/cgroup'
	[ "$status" -eq 0 ]
	vce exec -d e true 2>/dev/null || true
	run vce exec e sleep 0.5 &
	sleep 0.2
	[ "$(wc -l <"$mem/cgroup.procs")" -ge 2 ]
	wait
	# Same defaults: no capability to change the clock, seccomp on.
	run vce exec e sh -c 'grep -E "^(CapEff|Seccomp):" /proc/self/status'
	[[ "$output" == *"Seccomp:	2"* ]]
	[[ "$output" == *"CapEff:	00000000a80425fb"* ]]
	run -127 vce exec e no-such-command
	vce stop -t 1 e
	run_fails_cleanly vce exec e true
	[[ "$stderr" == *"is not running"*"vce start e"* ]]
	vce rm e
	assert_all_gone
}

@test "exec -t: a terminal of the container's own" {
	vce run -d --name t tiny sh -c 'sleep 1000; :' vce-test-marker
	run script -qec "'$VCE' exec -t t sh -c 'tty; stty size'" /dev/null
	[[ "$output" == *"/dev/pts/"* ]]
	vce rm -f t
}

@test "kill: a signal to the container (KILL by default); wait prints the code" {
	vce run -d --name k tiny sh -c 'trap "exit 42" USR1; while true; do sleep 0.1; done; : vce-test-marker'
	sleep 0.3
	vce kill -s USR1 k
	run vce wait k
	[ "$output" = 42 ]
	vce start k
	vce kill k
	run vce wait k
	[ "$output" = 137 ]
	run_fails_cleanly vce kill k
	[[ "$stderr" == *"not running"* ]]
	run_fails_cleanly vce kill -s NOSUCH k
	vce rm k
	assert_all_gone
}

@test "names: unique, an id prefix works, rename; unknown names fail in one line" {
	id=$(vce run -d --name n1 tiny sh -c 'sleep 1000; :' vce-test-marker)
	run_fails_cleanly vce run -d --name n1 tiny true
	[[ "$stderr" == *'"n1" is in use'* ]]
	run_fails_cleanly vce create --name n1 tiny true
	run vce exec "${id:0:6}" true
	[ "$status" -eq 0 ]
	vce rename n1 n2
	run vce exec n2 true
	[ "$status" -eq 0 ]
	vce create --name other tiny true >/dev/null
	run_fails_cleanly vce rename n2 other
	run_fails_cleanly vce rename n2 'bad/name'
	for verb in stop start rm kill logs wait inspect restart "exec no-such-container true"; do
		run_fails_cleanly vce $verb no-such-container
		[[ "$stderr" == *"no such container"* ]]
	done
	run_fails_cleanly vce rm n2
	[[ "$stderr" == *"is running"*"vce rm -f n2"* ]]
	vce rm -f n2 other
	assert_all_gone
}

@test "create, start -a, ps filters and formats, container prune" {
	id=$(vce create --name made tiny sh -c 'echo made-output; exit 3')
	[ "$(state_of made Status)" = created ]
	run vce ps -a --filter status=created -q
	[ "$output" = "${id:0:12}" ]
	run vce ps -q
	[ -z "$output" ]
	run vce start -a made
	[ "$status" -eq 3 ]
	[ "$output" = made-output ]
	vce run -d --name up tiny sh -c 'sleep 1000; :' vce-test-marker
	run vce ps --format json
	[ "$(echo "$output" | jq -r .Names)" = up ]
	[ "$(echo "$output" | jq -r .State)" = running ]
	run vce ps -a --filter name=ma --format json
	[ "$(echo "$output" | jq -r .Names)" = made ]
	[[ "$(echo "$output" | jq -r .Status)" == "Exited (3)"* ]]
	run vce container prune
	[[ "$output" == *"$id"* ]]
	run vce ps -aq
	[ "$(echo "$output" | wc -l)" -eq 1 ]
	vce container rm -f up
	assert_all_gone
}

@test "inspect: state, pid, times, image digest, mounts, config, limits" {
	mkdir -p "$BATS_TEST_TMPDIR/h"
	vce run -d --name i -v "$BATS_TEST_TMPDIR/h:/h:ro" -e A=1 -m 128m --pids-limit 50 \
		runtest sh -c 'sleep 1000; :' vce-test-marker
	run vce inspect i
	[ "$status" -eq 0 ]
	j=$output
	[ "$(echo "$j" | jq -r '.[0].State.Status')" = running ]
	[ "$(echo "$j" | jq -r '.[0].State.Pid')" -gt 1 ]
	[ "$(echo "$j" | jq -r '.[0].Image')" = "$(vce image inspect runtest | jq -r '.[0].Id')" ]
	[ "$(echo "$j" | jq -r '.[0].Mounts[0].Destination')" = /h ]
	[ "$(echo "$j" | jq -r '.[0].Mounts[0].RW')" = false ]
	[ "$(echo "$j" | jq -r '.[0].Config.Env[]' | grep -c '^A=1$')" -eq 1 ]
	[ "$(echo "$j" | jq -r '.[0].Config.StopSignal')" = SIGINT ]
	[ "$(echo "$j" | jq -r '.[0].HostConfig.Memory')" = 134217728 ]
	[ "$(echo "$j" | jq -r '.[0].HostConfig.PidsLimit')" = 50 ]
	[ "$(echo "$j" | jq -r '.[0].Name')" = /i ]
	# A name that is an image goes to the image, as docker's inspect.
	[ "$(vce inspect runtest | jq -r '.[0].RepoTags[0]')" = docker.io/library/runtest:latest ]
	vce rm -f i
}

@test "run --rm -d: the container is removed when it exits" {
	vce run --rm -d --name gone tiny sh -c 'sleep 0.3; : vce-test-marker'
	wait_for 50 sh -c "! '$VCE' ps -aq | grep -q ."
	assert_all_gone
}

@test "rm -f of a running --rm container: it is gone, and rm says so without an error" {
	# The container's own supervisor removes it as it dies: rm -f must not
	# then fail to find what it has just removed.
	for i in 1 2 3; do
		id=$(vce run --rm -d --name rmrm tiny sh -c 'sleep 1000; : vce-test-marker')
		run --separate-stderr vce rm -f rmrm
		[ "$status" -eq 0 ]
		[ "$output" = rmrm ]
		[ -z "$stderr" ]
		[ -z "$(cgroup_dirs_of "$id")" ]
		assert_all_gone
	done
}

@test "kill -9 of the supervisor: the container dies with it, ps says why, rm cleans up" {
	id=$(vce run -d --name s -m 64m tiny sh -c 'sleep 1000; :' vce-test-marker)
	sup=$(pgrep -f "__supervise $VCE_ROOT")
	kill -9 "$sup"
	wait_for 50 sh -c '! pgrep -f vce-test-marke[r]'
	run vce ps -a
	[[ "$output" == *"Exited (137)"* ]]
	[[ "$(state_of s Error)" == *"supervisor"*"killed"* ]]
	[ -n "$(cgroup_dirs_of "$id")" ]
	vce rm s
	[ -z "$(cgroup_dirs_of "$id")" ]
	assert_all_gone
}

@test "kill -9 of the container's init: the supervisor records it" {
	vce run -d --name s2 tiny sh -c 'sleep 1000; :' vce-test-marker
	kill -9 "$(state_of s2 Pid)"
	wait_for 50 sh -c "[ \"\$('$VCE' inspect s2 | jq -r '.[0].State.Status')\" = exited ]"
	[ "$(state_of s2 ExitCode)" = 137 ]
	vce rm s2
	assert_all_gone
}

@test "a reboot or a reused pid: state.json says running, ps knows better" {
	id=$(vce run -d --name r tiny sh -c 'sleep 1000; :' vce-test-marker)
	vce stop -t 1 r
	state=$VCE_ROOT/containers/$id/state.json
	# As if the machine had stopped while it ran: another boot id.
	jq -c '.status="running" | .pid=1 | .supervisor_pid=1 | .boot_id="not-this-boot"' "$state" >"$state.new"
	mv "$state.new" "$state"
	run vce ps -a
	[[ "$output" == *Exited* ]]
	[[ "$(state_of r Error)" == *"machine restarted"* ]]
	# This boot, but the pid now belongs to another process (pid 1).
	jq -c --arg boot "$(cat /proc/sys/kernel/random/boot_id)" \
		'.status="running" | .pid=1 | .pid_start=1 | .supervisor_pid=1 | .supervisor_start=1 | .boot_id=$boot' \
		"$state" >"$state.new"
	mv "$state.new" "$state"
	[ "$(state_of r Status)" = exited ]
	# Nothing was signalled: pid 1 lives on, and stop is a no-op.
	run vce stop r
	[ "$status" -eq 0 ]
	vce rm r
	assert_all_gone
}

@test "20 containers started at once from 20 shells: all listed, all removed, nothing left" {
	for i in $(seq 20); do
		vce run -d --name "many$i" tiny sh -c 'sleep 1000; :' vce-test-marker >/dev/null &
	done
	wait
	run vce ps -q
	[ "$(echo "$output" | wc -l)" -eq 20 ]
	[ "$(vce ps --format json | jq -r .Names | sort -u | wc -l)" -eq 20 ]
	ids=$(vce ps -q --no-trunc)
	for i in $(seq 20); do
		vce rm -f "many$i" >/dev/null &
	done
	wait
	run vce ps -aq
	[ -z "$output" ]
	for id in $ids; do
		[ -z "$(cgroup_dirs_of "$id")" ]
	done
	assert_all_gone
}

@test "limits: memory (OOMKilled in inspect), pids, cpus; stats" {
	run vce run --name oom -m 16m --memory-swap 16m tiny sh -c 'x=a; while true; do x=$x$x$x; done'
	[ "$status" -eq 137 ]
	[ "$(state_of oom OOMKilled)" = true ]
	run vce run --rm --pids-limit 8 tiny sh -c 'for i in $(seq 20); do sleep 2 & done; wait'
	[[ "$output" == *"can't fork"* ]]
	run vce run --rm --cpus 0.5 --cpu-shares 512 tiny true
	[ "$status" -eq 0 ]
	vce run -d --name st -m 64m tiny sh -c 'while true; do :; done; : vce-test-marker'
	run vce stats --no-stream st
	[[ "$output" == *"st "* ]]
	[[ "$output" == *"/ 64MiB"* || "$output" == *"/ 67.1MB"* ]]
	vce rm -f st oom
	run_fails_cleanly vce run --rm -m 12x tiny true
	run_fails_cleanly vce run --rm --memory-swap 1g tiny true
	run_fails_cleanly vce run --rm --cpus none tiny true
	assert_all_gone
}

@test "logs: --tail, -f until the container stops, rotation at --log-opt max-size" {
	vce run -d --name l --log-opt max-size=4k tiny sh -c 'i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done; sleep 1000; : vce-test-marker'
	wait_for 50 sh -c "'$VCE' logs l | grep -q line-399"
	id=$(vce inspect l | jq -r '.[0].Id')
	[ -f "$VCE_ROOT/containers/$id/log.1" ]
	[ "$(stat -c %s "$VCE_ROOT/containers/$id/log")" -le 4096 ]
	run vce logs --tail 3 l
	[ "$output" = "$(printf 'line-397\nline-398\nline-399')" ]
	(sleep 0.5; "$VCE" stop -t 1 l >/dev/null) &
	run timeout 20 "$VCE" logs -f --tail 1 l
	[ "$status" -eq 0 ]
	[ "$output" = line-399 ]
	wait
	vce rm l
}

@test "a full disk while logging: the container goes on, the log stops, logs says so" {
	mnt=$BATS_TEST_TMPDIR/small
	mkdir -p "$mnt"
	mount -t tmpfs -o size=64m tmpfs "$mnt"
	export VCE_ROOT=$mnt/store
	vce load -q -i "$RUNTEST/oci.tar"
	vce run -d --name full --log-opt max-size=1g runtest sh -c 'while true; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done; : vce-test-marker'
	wait_for 300 sh -c "[ \$(df --output=avail '$mnt' | tail -1) -lt 64 ]"
	sleep 0.5
	[ "$(state_of full Status)" = running ]
	run --separate-stderr vce logs --tail 1 full
	[[ "$stderr" == *"the log stopped at"*"No space left on device"* ]]
	vce rm -f full
	assert_all_gone
	umount "$mnt"
}
