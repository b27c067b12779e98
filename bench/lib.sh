# Shared by the benchmarks: medians and ratios, kept in $work/results.
# The caller sets work (a directory with results/ in it) and reps.

# times NAME CMD...: runs CMD reps times (after two warm-up runs), prints
# the median in ms, and keeps it in $work/NAME.
times() {
	local name=$1 i t0 t1
	shift
	"$@" >/dev/null 2>&1 && "$@" >/dev/null 2>&1 || {
		echo "n/a" >"$work/results/$name"
		printf '  %-22s %s\n' "$name" "n/a (failed: $*)"
		return 0
	}
	for ((i = 0; i < reps; i++)); do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000))
	done | record "$name"
}

# record NAME: the median of the times (microseconds) on stdin, in ms,
# kept in $work/results/NAME and printed (none: n/a, kept, not printed).
record() {
	sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else printf "%.2f\n", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) / 1000 }' >"$work/results/$1"
	if [ "$(cat "$work/results/$1")" != n/a ]; then
		printf '  %-22s %8s ms\n' "$1" "$(cat "$work/results/$1")"
	fi
}

ratio() { # vce peer
	local a b
	a=$(cat "$work/results/$1")
	b=$(cat "$work/results/$2")
	if [ "$b" = n/a ] || [ "$a" = n/a ]; then
		printf '  %-22s n/a\n' "$1 / $2"
	else
		printf '  %-22s %6.2fx\n' "$1 / $2" "$(echo "$a / $b" | bc -l)"
	fi
}
