#!/bin/bash
# Runs every test stage of `make check` (which builds everything first) and
# ends with one line: "N passed, N failed". Each stage speaks TAP; a stage
# that cannot run at all counts as one failure.
#
#   tests/run-all.sh [STAGE...]   stages: lint unit unit-asan fuzz arm64
#                                 images integration integration-asan
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
top=$PWD
log_dir=$top/build/test-logs
mkdir -p "$log_dir"
passed=0
failed=0
failures=()
stage_logs=()

# tally NAME LOGFILE: counts the TAP lines of a finished stage.
tally() {
	local name=$1 log=$2 ok notok
	ok=$(grep -cE '^ok ' "$log")
	notok=$(grep -cE '^not ok ' "$log")
	passed=$((passed + ok))
	failed=$((failed + notok))
	if [ "$notok" -gt 0 ]; then
		failures+=("$name: $(grep -E '^not ok ' "$log" | head -5 | tr '\n' ';')")
	fi
	echo "== $name: $ok passed, $notok failed (log: $log)"
}

# one NAME CMD...: a single check as one TAP line.
one() {
	local name=$1
	shift
	if "$@" >>"$log_dir/checks.log" 2>&1; then
		echo "ok - $name"
	else
		echo "not ok - $name"
	fi
}

stage_lint() {
	one "clang-format" make --no-print-directory -s lint-format
	one "cppcheck" make --no-print-directory -s lint-cppcheck
}

stage_unit() { # build dir
	local t
	for t in "$1"/tests/test_*; do
		CMOCKA_MESSAGE_OUTPUT=TAP "$t" 2>&1
	done
}

stage_fuzz() {
	local f corpus
	for f in build/fuzz/fuzz_*; do
		corpus=$(mktemp -d)
		one "fuzz $(basename "$f") (smoke, 20000 runs)" \
			"$f" -runs=20000 -max_total_time=60 -artifact_prefix="$log_dir/" "$corpus" \
			"tests/fuzz/corpus/${f##*/fuzz_}"
		rm -rf "$corpus"
	done
}

stage_arm64() {
	local q="qemu-aarch64-static" store
	store=$(mktemp -d)
	one "arm64: vce --version under qemu" "$q" build/arm64/vce --version
	# zstd, and gzip through zlib (the cross build has no ISA-L)
	one "arm64: vce load (zstd) under qemu" "$q" build/arm64/vce --root "$store" load \
		-i "${VCE_TEST_IMAGES:-/var/tmp/vce-test-images}/tiny/oci-zstd.tar"
	one "arm64: vce load (gzip) under qemu" "$q" build/arm64/vce --root "$store/gz" load \
		-i "${VCE_TEST_IMAGES:-/var/tmp/vce-test-images}/tiny/oci-gzip.tar"
	one "arm64: vce images under qemu" "$q" build/arm64/vce --root "$store" images
	rm -rf "$store"
	local t
	for t in build/arm64/tests/test_*; do
		CMOCKA_MESSAGE_OUTPUT=TAP "$q" "$t" 2>&1
	done
}

stage_images() {
	one "test image tiny" tests/images/build-tiny.sh
	one "test image jupyter" tests/images/build-jupyter.sh
	one "test images: the hostile corpus" tests/images/build-hostile.sh
	one "test image runtest" tests/images/build-runtest.sh
	one "test users" tests/setup-users.sh
}

stage_integration() { # binary, bats files...
	local vce=$1
	shift
	VCE=$top/$vce bats --tap "$@" 2>&1
}

# As stage_integration, with every sanitizer report written to a file:
# a supervisor or a network helper has no stderr anyone reads, and a
# report of theirs would otherwise show only as a test that hangs.
stage_sanitized() { # binary, bats files...
	local reports=$log_dir/sanitizer
	rm -rf "$reports"
	mkdir -p "$reports"
	ASAN_OPTIONS=$ASAN_OPTIONS:log_path=$reports/asan \
		UBSAN_OPTIONS=$UBSAN_OPTIONS:log_path=$reports/ubsan stage_integration "$@"
	if [ -n "$(ls -A "$reports")" ]; then
		echo "not ok - sanitizer reports: $(ls "$reports" | tr '\n' ' ')"
		head -n 40 "$reports"/* | sed 's/^/# /'
	else
		echo "ok - no sanitizer report from any process"
	fi
}

run_stage() { # name command...
	local name=$1 log=$log_dir/$1.log
	shift
	echo "-- $name"
	stage_logs+=("$log")
	"$@" >"$log" 2>&1
	local rc=$?
	if ! grep -qE '^(not )?ok ' "$log"; then
		echo "not ok - $name produced no test results (exit $rc)" >>"$log"
	fi
	tally "$name" "$log"
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(lint unit unit-asan fuzz images arm64 integration integration-asan)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=99
for s in "${stages[@]}"; do
	case $s in
	lint) run_stage lint stage_lint ;;
	unit) run_stage unit stage_unit build/native ;;
	unit-asan) run_stage unit-asan stage_unit build/asan ;;
	fuzz) run_stage fuzz stage_fuzz ;;
	arm64) run_stage arm64 stage_arm64 ;;
	images) run_stage images stage_images ;;
	integration)
		run_stage integration stage_integration build/native/vce tests/integration/*.bats ;;
	integration-asan)
		# The same suite under ASan+UBSan, without the slow jupyter suite,
		# and with openat2 blocked so the fallback path runs it all.
		VCE_SANITIZED=1 VCE_NO_OPENAT2=1 run_stage integration-asan stage_sanitized \
			build/asan/vce tests/integration/store.bats tests/integration/bad-input.bats \
			tests/integration/cache.bats tests/integration/rootless.bats \
			tests/integration/run.bats tests/integration/run-rootless.bats \
			tests/integration/lifecycle.bats tests/integration/lifecycle-rootless.bats \
			tests/integration/net.bats tests/integration/net-rootless.bats \
			tests/integration/pull.bats tests/integration/pull-rootless.bats ;;
	*) echo "unknown stage $s" >&2; failed=$((failed + 1)) ;;
	esac
done

for f in "${failures[@]}"; do
	echo "FAILED $f"
done
# CI shows only what is printed here: each failure with what bats said.
for log in "${stage_logs[@]}"; do
	awk '/^ok /{n=0} /^not ok /{n=40} n&&n--{print "  " FILENAME ": " $0}' "$log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
