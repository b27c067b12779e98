# Shared by course.bats and course-rootless.bats: a browser's view of a
# notebook server (tests/tools/jupyter.py) and what a course checks.
#   COURSE_USER   set: vce runs as that test user (rootless)

JUPYTER_PG=$JUPYTER/pg

# A notebook cell that asks PostgreSQL on localhost who and where it is.
PG_CELL='import psycopg2
conn = psycopg2.connect(host="localhost", port=5432, user="jovyan", password="jovyan", dbname="course")
cur = conn.cursor()
cur.execute("select version(), current_database(), current_user")
version, db, user = cur.fetchone()
print(version.split(" on ")[0], db, user)'

course_vce() {
	if [ -n "${COURSE_USER:-}" ]; then
		user_vce "$COURSE_USER" "$@"
	else
		vce "$@"
	fi
}

jupyter_client() { # URL TOKEN COMMAND ARGS...
	/usr/bin/python3 "$BATS_TEST_DIRNAME/../tools/jupyter.py" "$@"
}

# notebook_answers CONTAINER URL TOKEN: GET /api answers within two
# minutes (a loaded machine is slow); else what the container said.
notebook_answers() {
	jupyter_client "$2" "$3" wait 120 && return 0
	course_vce logs "$1"
	course_vce ps -a
	return 1
}

port_is_free() {
	/usr/bin/python3 -c "import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', $1))"
}

# No process of the container is a zombie: init reaps what the start
# script's daemons leave behind.
no_zombies() {
	run course_vce exec "$1" sh -c 'grep -l "^State:.*Z" /proc/[0-9]*/status'
	[ -z "$output" ] || { echo "zombies: $output"; return 1; }
}

# A course of two containers: PostgreSQL alone in db (which publishes the
# notebook's port), the notebook in nb on db's network; a cell reaches the
# database on localhost, which runs in db only.
two_container_course() {
	course_vce run --name db -d -p 8351:8888 jupyter-pg pg_ctlcluster --foreground 15 main start
	course_vce run --name nb -d --network container:db -e JUPYTER_TOKEN=letmein jupyter-pg \
		start-notebook.sh
	notebook_answers nb http://127.0.0.1:8351 letmein
	run jupyter_client http://127.0.0.1:8351 letmein execute "$PG_CELL"
	[ "$status" -eq 0 ]
	[[ "$output" == "PostgreSQL 15"*" course jovyan" ]]
	[ -z "$(course_vce exec nb sh -c 'grep -l postgres /proc/[0-9]*/comm' 2>/dev/null)" ]
	course_vce stop nb db
}

# The jupyter-pg course as `course`: the notebook answers, and a cell
# reaches PostgreSQL on localhost.
pg_course_runs() {
	course_vce run --name course -d -p 8351:8888 -e JUPYTER_TOKEN=letmein jupyter-pg
	notebook_answers course http://127.0.0.1:8351 letmein
	run jupyter_client http://127.0.0.1:8351 letmein execute "$PG_CELL"
	[ "$status" -eq 0 ]
	[[ "$output" == "PostgreSQL 15"*" course jovyan" ]]
}

# Stopped, both services end within the timeout: the start script's own
# exit (a SIGKILL at the timeout would be 137), and PostgreSQL's log, read
# after a start, tells a clean shutdown; no zombie is left in there.
pg_course_restarts_cleanly() {
	course_vce stop -t 20 course
	[ "$(course_vce inspect course | jq -r '.[0].State.ExitCode')" = 0 ]
	course_vce start course
	notebook_answers course http://127.0.0.1:8351 letmein
	run course_vce exec course cat /var/log/postgresql/postgresql-15-main.log
	[[ "$output" == *"database system is shut down"* ]]
	[[ "$output" != *"not properly shut down"* ]]
	[[ "$output" != *"automatic recovery"* ]]
	no_zombies course
}
