#!/usr/bin/env bats
# Jupyter end to end as root: a course's docker instructions with vce for
# docker, on the jupyter and jupyter-pg test images (tests/images/
# build-jupyter.sh), through the forwarded port as a browser would reach
# it: the REST API, a saved notebook in the host folder, a kernel running
# code over its websocket. The start-script contracts of docker-stacks and
# nbhosting, a notebook with PostgreSQL in one container and in two, and a
# course image pulled from a registry. Rootless: course-rootless.bats.
load helpers
load course

setup_file() {
	export VCE_ROOT=$BATS_FILE_TMPDIR/store
	vce load -q -i "$JUPYTER/oci-zstd.tar"
	vce load -q -i "$JUPYTER_PG/oci-gzip.tar"
}

setup() {
	export VCE_ROOT=$BATS_FILE_TMPDIR/store
	cd "$BATS_TEST_TMPDIR"
}

teardown() {
	for id in $(vce ps -aq 2>/dev/null); do vce rm -f "$id" >/dev/null 2>&1; done
	if [ -n "${REGISTRIES:-}" ]; then
		registries_stop
	fi
}

@test "course: the TM351 command verbatim; API, token, a saved notebook, a kernel" {
	vce run --name tm351vce --rm -d -p 8351:8888 -v "$PWD/TM351VCE/notebooks:/home/jovyan/notebooks" -v "$PWD/TM351VCE/openrefine_projects:/home/jovyan/openrefine" -e JUPYTER_TOKEN="letmein" jupyter
	notebook_answers tm351vce http://127.0.0.1:8351 letmein
	[ "$(jupyter_client http://127.0.0.1:8351 wrong status)" = 403 ]
	[ "$(jupyter_client http://127.0.0.1:8351 letmein status)" = 200 ]
	[ "$(jupyter_client http://127.0.0.1:8351 letmein save notebooks/mine.ipynb)" = \
		"201 notebooks/mine.ipynb" ]
	# As root there is no user namespace (as in Docker): the notebook is
	# uid 1000 on the host, and the folders vce made are that uid's, so it
	# can save into them (Docker makes them root's, and it cannot).
	[ "$(stat -c %u:%g TM351VCE/notebooks/mine.ipynb)" = 1000:100 ]
	[ "$(stat -c %u:%g TM351VCE/notebooks TM351VCE/openrefine_projects TM351VCE | sort -u)" = 1000:100 ]
	jq -e '.cells[0].source' TM351VCE/notebooks/mine.ipynb >/dev/null
	run jupyter_client http://127.0.0.1:8351 letmein execute 'import os; print(6 * 7, os.getuid())'
	[ "$status" -eq 0 ]
	[ "$output" = "42 1000" ]
	vce stop tm351vce
	# --rm: the container is gone, the student's folders are not
	[ -z "$(vce ps -aq)" ]
	[ -f TM351VCE/notebooks/mine.ipynb ]
	port_is_free 8351
}

@test "course: as root under sudo with --userns keep-id, the notebook is the sudo user" {
	env SUDO_UID=4242 SUDO_GID=4343 "$VCE" run --name nb -d -p 8351:8888 --userns keep-id \
		-v "$PWD/work:/home/jovyan/notebooks" -e JUPYTER_TOKEN=letmein jupyter
	notebook_answers nb http://127.0.0.1:8351 letmein
	jupyter_client http://127.0.0.1:8351 letmein save notebooks/mine.ipynb
	[ "$(stat -c %u:%g work work/mine.ipynb | sort -u)" = 4242:4343 ]
}

@test "course: stop and start keep what the student made; rm keeps the host folder" {
	vce run --name tm351vce -d -p 8351:8888 -v "$PWD/nb:/home/jovyan/notebooks" \
		-e JUPYTER_TOKEN=letmein jupyter
	notebook_answers tm351vce http://127.0.0.1:8351 letmein
	jupyter_client http://127.0.0.1:8351 letmein save made-outside-the-mount.ipynb
	jupyter_client http://127.0.0.1:8351 letmein save notebooks/in-the-mount.ipynb
	vce exec tm351vce sh -c 'pip_like=/home/jovyan/.local/lib; mkdir -p $pip_like; echo x >$pip_like/pkg'
	vce stop tm351vce
	port_is_free 8351
	vce start tm351vce
	notebook_answers tm351vce http://127.0.0.1:8351 letmein
	run vce exec tm351vce ls /home/jovyan/made-outside-the-mount.ipynb /home/jovyan/.local/lib/pkg
	[ "$status" -eq 0 ]
	vce rm -f tm351vce
	[ -f nb/in-the-mount.ipynb ]
	[ -z "$(vce ps -aq)" ]
}

@test "course: docker-stacks' root start: NB_UID=1234 NB_GID=1234 CHOWN_HOME=yes" {
	vce run --name nb -d -u root -p 8351:8888 -e NB_UID=1234 -e NB_GID=1234 -e CHOWN_HOME=yes \
		-v "$PWD/work:/home/jovyan/work" -e JUPYTER_TOKEN=letmein jupyter
	notebook_answers nb http://127.0.0.1:8351 letmein
	run jupyter_client http://127.0.0.1:8351 letmein execute 'import os; print(os.getuid(), os.getgid())'
	[ "$output" = "1234 1234" ]
	jupyter_client http://127.0.0.1:8351 letmein save work/mine.ipynb
	[ "$(stat -c %u:%g work/mine.ipynb)" = 1234:1234 ]
	[[ "$(vce logs nb)" == *"giving /home/jovyan to 1234:1234"* ]]
}

@test "course: nbhosting's start-in-dir-as-uid.sh as the platform starts it" {
	mkdir -p work && chown 2001:100 work
	vce run --user root --cap-add AUDIT_WRITE --entrypoint= --rm -d --name student \
		-v "$PWD/work:/home/jovyan/work" -p 8351:8888 jupyter \
		start-in-dir-as-uid.sh /home/jovyan 2001 jupyter-notebook --ip=0.0.0.0 --port=8888 \
		--no-browser --NotebookApp.token=letmein
	notebook_answers student http://127.0.0.1:8351 letmein
	run jupyter_client http://127.0.0.1:8351 letmein execute \
		'import os, pwd; print(os.getcwd(), pwd.getpwuid(os.getuid()).pw_name, os.environ["HOME"])'
	[ "$output" = "/home/jovyan student2001 /home/jovyan" ]
	jupyter_client http://127.0.0.1:8351 letmein save work/mine.ipynb
	[ "$(stat -c %u work/mine.ipynb)" = 2001 ]
	# the home on the image's filesystem is the student's; the bind mount was left alone
	[ "$(vce exec student stat -c %u /home/jovyan/notebooks/01-intro.ipynb)" = 2001 ]
}

@test "course: notebook and PostgreSQL in one image; stop shuts both down cleanly" {
	pg_course_runs
	pg_course_restarts_cleanly
}

@test "course: PostgreSQL in one container, the notebook in another with --network container:db" {
	two_container_course
}

@test "course: pulled from a registry, then run" {
	load registry
	registries_start course:plain
	push "$JUPYTER_PG/oci-gzip.tar" "127.0.0.1:$PORT_course/course/jupyter-pg:2026"
	export VCE_ROOT=$BATS_TEST_TMPDIR/store
	vce pull -q "127.0.0.1:$PORT_course/course/jupyter-pg:2026"
	vce run --name course --rm -d -p 8351:8888 -v "$PWD/nb:/home/jovyan/notebooks" \
		-e JUPYTER_TOKEN=letmein "127.0.0.1:$PORT_course/course/jupyter-pg:2026"
	notebook_answers course http://127.0.0.1:8351 letmein
	jupyter_client http://127.0.0.1:8351 letmein save notebooks/mine.ipynb
	[ -f nb/mine.ipynb ]
	vce stop course
}
