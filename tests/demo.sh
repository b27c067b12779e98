#!/bin/bash
# make demo: what a student does with a course image on a USB stick: build
# the demo (jupyter) image from Debian packages as a course team would ship
# it, load it into a fresh store, list it, run the notebook server in it
# with a work folder from the host, save the image for a friend.
set -euo pipefail
cd "$(dirname "$0")/.."
images=${VCE_TEST_IMAGES:-/var/tmp/vce-test-images}
tests/images/build-jupyter.sh
store=$(mktemp -d /var/tmp/vce-demo.XXXXXX)
trap 'rm -rf "$store"' EXIT
say() { printf '\n$ %s\n' "$*"; }
say vce load -i "$images/jupyter/docker.tar"
time ./vce --root "$store" load -i "$images/jupyter/docker.tar"
say vce images
./vce --root "$store" images
say vce image inspect jupyter "| jq '.[0].Config'"
./vce --root "$store" image inspect jupyter | jq '.[0].Config'

# The server answers on its own address inside the container (publishing
# ports to the host comes with networking); the notebook the student saves
# lands in the host folder, theirs: --userns keep-id maps the notebook's uid
# to the user who ran vce (the default without root; here root, or the
# user of sudo).
work=$store/work
ask_server='import time, urllib.request
for _ in range(100):
    try:
        print("notebook server says", urllib.request.urlopen("http://127.0.0.1:8888/api").read().decode())
        break
    except OSError:
        time.sleep(0.1)'
notebook='{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
say vce run --rm --userns keep-id -v "$work:/home/jovyan/work" jupyter sh -c "'start-notebook.sh & ...'"
time ./vce --root "$store" run --rm --userns keep-id -v "$work:/home/jovyan/work" -e ASK="$ask_server" \
	-e NOTEBOOK="$notebook" jupyter sh -c '
	start-notebook.sh >/tmp/server.log 2>&1 &
	python3 -c "$ASK"
	echo "$NOTEBOOK" >work/hello.ipynb
	echo "running as $(id -un) (uid $(id -u)) in $PWD"'
ls -ln "$work"
say vce run --rm jupyter sh -c "'exit 3'"
./vce --root "$store" run --rm jupyter sh -c 'exit 3' || echo "exit code $?"
say vce save -o jupyter-course.tar jupyter
./vce --root "$store" save -o "$store/jupyter-course.tar" jupyter
ls -lh "$store/jupyter-course.tar"
