#!/bin/bash
# make demo: what a student does with a course image on a USB stick, until
# `vce run` lands: build the demo (jupyter) image from Debian packages as a
# course team would ship it, load it into a fresh store, list it, save it.
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
say vce save -o jupyter-course.tar jupyter
./vce --root "$store" save -o "$store/jupyter-course.tar" jupyter
ls -lh "$store/jupyter-course.tar"
