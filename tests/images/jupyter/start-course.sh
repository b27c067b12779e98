#!/bin/bash
# A course of two services in one container, started as root: PostgreSQL
# (as postgres), then the notebook server (as jovyan, start-notebook.sh).
# A stop stops the notebook server, then PostgreSQL with a clean shutdown.
set -e
pg_ctlcluster 15 main start
stop_all() {
	kill -TERM "$notebook" 2>/dev/null || true
	wait "$notebook" || true
	pg_ctlcluster 15 main stop -m fast
	exit 0
}
trap stop_all TERM INT
start-notebook.sh "$@" &
notebook=$!
set +e
wait "$notebook"
status=$?
pg_ctlcluster 15 main stop -m fast
exit "$status"
