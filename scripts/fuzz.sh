#!/usr/bin/env bash
# fuzz.sh: every go test -fuzz target in the repository, each for FUZZTIME (default 30s), one
# after another (go test fuzzes one target of one package at a time). Seed corpora live in each
# package's testdata/fuzz/<Target>/ and run as plain tests in `make test` too; a failure found
# here is written there as a new seed, to commit with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-30s}"
tags=(-tags ferretdb_no_postgresql)
found=0
# Every module of the workspace (go.work), so that a new module's targets are not left out.
for mod in $(go list -m -f '{{.Dir}}'); do
	while read -r pkg; do
		targets=$(cd "$mod" && go test "${tags[@]}" -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
		for t in $targets; do
			found=$((found + 1))
			echo "== ${mod#"$PWD"/} $pkg $t ($fuzztime)"
			(cd "$mod" && go test "${tags[@]}" -run '^$' -fuzz "^$t\$" -fuzztime "$fuzztime" "$pkg")
		done
	done < <(cd "$mod" && grep -l '^func Fuzz' --include='*_test.go' -r . | xargs -r -n1 dirname | sort -u)
done
echo "fuzzed $found targets for $fuzztime each"
[ "$found" -gt 0 ]
