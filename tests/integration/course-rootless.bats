#!/usr/bin/env bats
# Jupyter end to end as a student without root (course.bats is root's):
# the notebook's uid is the student on the host, whatever the image's
# start script makes of it.
load helpers
load course

setup_file() {
	rootless_setup
	for user in vcetest vcetest-nosub; do
		user_vce "$user" load -q -i "$JUPYTER/oci-zstd.tar"
	done
	user_vce vcetest load -q -i "$JUPYTER_PG/oci-gzip.tar"
}

teardown_file() {
	rootless_teardown
	for user in vcetest vcetest-nosub; do
		rm -rf "$(home_of "$user")/TM351VCE"
	done
}

setup() {
	export COURSE_USER=vcetest
}

teardown() {
	remove_user_containers
	if [ -n "${REGISTRIES:-}" ]; then
		user_vce vcetest --root "$(home_of vcetest)/pulled" rm -f course >/dev/null 2>&1 || true
		rm -rf "$(home_of vcetest)/pulled" "$(home_of vcetest)/nb"
		registries_stop
	fi
}

# The course command, verbatim, run in the student's home.
tm351_command() { # user
	as_user "$1" sh -c "cd && $ROOTLESS_VCE"' run --name tm351vce --rm -d -p 8351:8888 -v "$PWD/TM351VCE/notebooks:/home/jovyan/notebooks" -v "$PWD/TM351VCE/openrefine_projects:/home/jovyan/openrefine" -e JUPYTER_TOKEN="letmein" jupyter'
}

@test "course rootless: the TM351 command verbatim, with and without a subordinate range" {
	for user in vcetest vcetest-nosub; do
		export COURSE_USER=$user
		home=$(home_of "$user")
		tm351_command "$user"
		notebook_answers tm351vce http://127.0.0.1:8351 letmein
		[ "$(jupyter_client http://127.0.0.1:8351 wrong status)" = 403 ]
		jupyter_client http://127.0.0.1:8351 letmein save notebooks/mine.ipynb
		[ "$(stat -c %U:%G "$home/TM351VCE/notebooks/mine.ipynb")" = "$user:$user" ]
		[ "$(stat -c %U "$home/TM351VCE/openrefine_projects")" = "$user" ]
		run jupyter_client http://127.0.0.1:8351 letmein execute 'import os; print(6 * 7, os.getuid())'
		[ "$output" = "42 1000" ]
		course_vce stop tm351vce
		[ -z "$(course_vce ps -aq)" ]
		[ -f "$home/TM351VCE/notebooks/mine.ipynb" ]
		port_is_free 8351
	done
}

@test "course rootless: docker-stacks' root start with NB_UID=1234: the student still owns the files" {
	home=$(home_of vcetest)
	course_vce run --name nb -d -u root -p 8351:8888 -e NB_UID=1234 -e NB_GID=1234 \
		-e CHOWN_HOME=yes -v "$home/course:/home/jovyan/work" -e JUPYTER_TOKEN=letmein jupyter
	notebook_answers nb http://127.0.0.1:8351 letmein
	run jupyter_client http://127.0.0.1:8351 letmein execute 'import os; print(os.getuid(), os.getgid())'
	[ "$output" = "1234 1234" ]
	jupyter_client http://127.0.0.1:8351 letmein save work/mine.ipynb
	[ "$(stat -c %U:%G "$home/course/mine.ipynb")" = vcetest:vcetest ]
}

@test "course rootless: stop and start keep the student's changes; notebook and PostgreSQL stop cleanly" {
	pg_course_runs
	jupyter_client http://127.0.0.1:8351 letmein save made-inside.ipynb
	pg_course_restarts_cleanly
	course_vce exec course ls /home/jovyan/made-inside.ipynb
}

@test "course rootless: PostgreSQL in one container, the notebook in another with --network container:db" {
	two_container_course
}

@test "course rootless: pulled from a registry, then run" {
	load registry
	registries_start course:plain
	push "$JUPYTER/oci-gzip.tar" "127.0.0.1:$PORT_course/course/jupyter:2026"
	home=$(home_of vcetest)
	course_vce --root "$home/pulled" pull -q "127.0.0.1:$PORT_course/course/jupyter:2026"
	course_vce --root "$home/pulled" run --name course --rm -d -p 8351:8888 \
		-v "$home/nb:/home/jovyan/notebooks" -e JUPYTER_TOKEN=letmein \
		"127.0.0.1:$PORT_course/course/jupyter:2026"
	notebook_answers course http://127.0.0.1:8351 letmein
	jupyter_client http://127.0.0.1:8351 letmein save notebooks/mine.ipynb
	[ "$(stat -c %U "$home/nb/mine.ipynb")" = vcetest ]
	course_vce --root "$home/pulled" stop course
	rm -rf "$home/pulled" "$home/nb"
}
