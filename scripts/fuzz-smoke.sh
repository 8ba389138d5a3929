#!/usr/bin/env bash
# Runs every Fuzz* target in the module for a short time ($1, default 10s),
# and the whole-path target FuzzPipeline for at least 20s (issue #2).
# Fuzzing runs one target at a time (go test -fuzz needs a single match).
set -euo pipefail
t=${1:-10s}
cd "$(dirname "$0")/.."
fail=0
while read -r dir; do
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/func //' | sort -u); do
		ft=$t
		[ "$f" = FuzzPipeline ] && ft=20s
		echo "== fuzz $dir $f ($ft)"
		if ! go test -run '^$' -fuzz "^$f\$" -fuzztime "$ft" "./$dir" >/tmp/fuzz.$$.log 2>&1; then
			tail -30 /tmp/fuzz.$$.log
			fail=1
		fi
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sed 's#^\./##' | sort -u)
rm -f /tmp/fuzz.$$.log
exit $fail
