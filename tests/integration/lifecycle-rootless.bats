#!/usr/bin/env bats
# Detached containers as a student without root: vcetest has a
# subordinate id range, vcetest-nosub has none (tests/setup-users.sh).
load helpers

RUNTEST=$IMAGES/runtest

setup_file() {
	rootless_setup
}

teardown_file() {
	rootless_teardown
}

assert_clean() { # user
	local store
	store=$(home_of "$1")/.local/share/vce
	[ -z "$(ls -A "$store/containers")" ] || {
		echo "containers left: $(ls "$store/containers")" >&2
		return 1
	}
	! grep -q "$store" /proc/self/mountinfo
	! pgrep -u "$1" -f "$ROOTLESS_VCE|__supervise" >/dev/null || {
		echo "processes left: $(pgrep -u "$1" -af "$ROOTLESS_VCE|__supervise")" >&2
		return 1
	}
}

@test "rootless: run -d, logs, exec, stop and start keep the changes, rm" {
	for user in vcetest vcetest-nosub; do
		run user_vce "$user" run -d --name nb runtest sh -c 'echo started; sleep 1000; :'
		[ "$status" -eq 0 ]
		wait_for 30 sh -c "runuser -u $user -- env -i HOME=/tmp '$ROOTLESS_VCE' --root \$(getent passwd $user | cut -d: -f6)/.local/share/vce logs nb | grep -q started"
		run user_vce "$user" ps
		[[ "$output" == *"Up "*nb* ]]
		run user_vce "$user" exec nb sh -c 'id -u; echo work > /home/jovyan/saved'
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = 1000 ]
		run user_vce "$user" exec nb sh -c 'exit 5'
		[ "$status" -eq 5 ]
		user_vce "$user" stop -t 2 nb
		run user_vce "$user" exec nb true
		[ "$status" -ne 0 ]
		user_vce "$user" start nb
		run user_vce "$user" exec nb cat /home/jovyan/saved
		[ "$output" = work ]
		run user_vce "$user" stats --no-stream nb
		[[ "$output" == *nb* ]]
		user_vce "$user" rm -f nb
		assert_clean "$user"
	done
}

@test "rootless: a limit the machine cannot enforce is one warning, and the container runs" {
	for user in vcetest vcetest-nosub; do
		run --separate-stderr user_vce "$user" run --rm -m 64m tiny echo ran
		[ "$status" -eq 0 ]
		[ "$output" = ran ]
		# Delegated cgroups (a systemd user session) would enforce it.
		if [ -n "$stderr" ]; then
			[[ "$stderr" == *"--memory is not enforced"* ]]
			[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
		fi
		assert_clean "$user"
	done
}

@test "rootless: kill -9 of the supervisor leaves no orphans; ps says exited" {
	for user in vcetest vcetest-nosub; do
		user_vce "$user" run -d --name k tiny sh -c 'sleep 1000; :'
		sup=$(pgrep -u "$user" -f __supervise)
		[ -n "$sup" ]
		kill -9 "$sup"
		wait_for 50 sh -c "! pgrep -u $user -f 'sleep 1000'"
		run user_vce "$user" ps -a
		[[ "$output" == *"Exited (137)"* ]]
		user_vce "$user" rm k
		assert_clean "$user"
		# pasta, which nobody stopped, leaves with the container
		wait_for 30 no_outbound_tool_of "$user"
	done
}

@test "rootless: run --rm -d, kill, wait, rename, prune" {
	for user in vcetest vcetest-nosub; do
		user_vce "$user" run --rm -d tiny sh -c 'sleep 0.2'
		user_vce "$user" run -d --name w tiny sh -c 'trap "exit 9" USR1; while true; do sleep 0.1; done'
		sleep 0.3
		user_vce "$user" kill -s USR1 w
		run user_vce "$user" wait w
		[ "$output" = 9 ]
		user_vce "$user" rename w w2
		run user_vce "$user" container prune
		[ "$status" -eq 0 ]
		wait_for 50 sh -c "[ -z \"\$(ls -A \$(getent passwd $user | cut -d: -f6)/.local/share/vce/containers)\" ]"
		assert_clean "$user"
	done
}
