#!/bin/bash
# make demo: what a student does with a course image, start to finish.
# Installs what is missing, builds vce and the demo course image (Debian's
# python3-notebook, user jovyan 1000, a start script, a few notebooks:
# tests/images/build-jupyter.sh), loads it, runs the notebook server
# detached with a host folder and a port, waits until it answers, and
# says where it is. Run as a normal user, vce runs rootless (installing
# packages and building the image use sudo); as root, it runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
name=vce-demo
port=${VCE_DEMO_PORT:-8888}
images=${VCE_TEST_IMAGES:-/var/tmp/vce-test-images}

say() { printf '\n$ %s\n' "$*"; }
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		echo "demo: '$*' needs root: asking sudo"
		sudo "$@"
	else
		echo "demo: '$*' needs root, and there is no sudo: run it as root once, then make demo again" >&2
		exit 1
	fi
}

tests/deps.sh demo 2>/dev/null || as_root tests/deps.sh demo
make -s vce
# Built once per machine; only the first build needs root (debootstrap).
tests/images/build-jupyter.sh 2>/dev/null || as_root tests/images/build-jupyter.sh

say vce load -i "$images/jupyter/docker.tar"
./vce load -i "$images/jupyter/docker.tar"
say vce images
./vce images

# A second `make demo` replaces the first one's container (the folder stays).
./vce rm -f "$name" >/dev/null 2>&1 || true
token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
say vce run -d --name "$name" -p "$port:8888" -v ./notebooks:/home/jovyan/notebooks \
	-e JUPYTER_TOKEN=... jupyter
./vce run -d --name "$name" -p "$port:8888" -v ./notebooks:/home/jovyan/notebooks \
	-e JUPYTER_TOKEN="$token" jupyter

printf '\nwaiting for the notebook server'
for _ in $(seq 600); do
	if curl -sf -o /dev/null -H "Authorization: token $token" "http://127.0.0.1:$port/api"; then
		break
	fi
	if [ "$(./vce inspect "$name" | jq -r '.[0].State.Running')" != true ]; then
		printf '\n'
		./vce logs "$name" | tail -n 20
		echo "demo: the notebook server stopped; what it said is above" >&2
		exit 1
	fi
	printf .
	sleep 0.2
done
curl -sf -o /dev/null -H "Authorization: token $token" "http://127.0.0.1:$port/api" || {
	printf '\n'
	./vce logs "$name" | tail -n 20
	echo "demo: the notebook server did not answer in two minutes; what it said is above" >&2
	exit 1
}
# A first notebook, saved by the server itself so that it is the
# student's (a folder vce creates is theirs; one made here might not be).
welcome='{"type": "notebook", "format": "json", "content": {"cells": [
 {"cell_type": "markdown", "metadata": {}, "source": ["# Welcome\n", "This notebook lives in the `notebooks` folder beside vce on your machine: what you save here stays there."]},
 {"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": ["import os, platform\n", "print(\"Python\", platform.python_version(), \"in a container, as uid\", os.getuid())"]}
], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}'
if [ ! -e notebooks/welcome.ipynb ] &&
	! curl -sf -o /dev/null -X PUT -H "Authorization: token $token" \
		-H 'Content-Type: application/json' --data "$welcome" \
		"http://127.0.0.1:$port/api/contents/notebooks/welcome.ipynb"; then
	echo "demo: the welcome notebook could not be saved (the server runs: carry on)"
fi
cat <<EOF


The notebook server is running$([ "$(id -u)" = 0 ] || echo " (rootless, as $(id -un))"). Open:

    http://localhost:$port/?token=$token

Your notebooks are in $PWD/notebooks.

    ./vce logs $name        what the server says
    ./vce stop $name        stop it (everything you did inside is kept)
    ./vce start $name       start it again
    ./vce rm -f $name       remove it (the notebooks folder stays)
EOF
