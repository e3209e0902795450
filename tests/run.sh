#!/bin/sh
# SPDX-License-Identifier: MIT
# Description: runs zerg's test programs, each in its own process with a
# time limit, and prints one summary line. Usage: tests/run.sh [unit|integration|fuzz]...
# Exit status 77 from a test means skipped. Output of each test goes to
# tests/logs/NAME.log and is printed when the test fails.

set -u
cd "$(dirname "$0")/.." || exit 1
mkdir -p tests/logs
kinds=${*:-unit fuzz integration}
pass=0 fail=0 skip=0 failed=

run_one() { # name timeout cmd...
    name=$1 limit=$2
    shift 2
    log=tests/logs/$name.log
    mkdir -p "$(dirname "$log")"
    start=$(date +%s)
    timeout -k 5 "$limit" "$@" >"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    case $rc in
    0) pass=$((pass + 1)); printf 'PASS  %-40s %3ss\n' "$name" "$secs" ;;
    77) skip=$((skip + 1)); printf 'SKIP  %-40s %s\n' "$name" "$(tail -n 1 "$log")" ;;
    *)
        fail=$((fail + 1)); failed="$failed $name"
        [ $rc = 124 ] && echo "timed out after ${limit}s" >>"$log"
        printf 'FAIL  %-40s %3ss (exit %s)\n' "$name" "$secs" "$rc"
        sed 's/^/    | /' "$log" | tail -n 60
        ;;
    esac
}

for kind in $kinds; do
    case $kind in
    unit)
        for t in tests/unit/test_*; do
            case $t in *.c | *.d) continue ;; esac
            [ -x "$t" ] || continue
            run_one "unit/$(basename "$t")" 120 "$t"
        done
        ;;
    fuzz)
        for t in tests/fuzz/*_replay; do
            [ -x "$t" ] || continue
            n=$(basename "$t" _replay)
            run_one "fuzz/$n" 120 "$t" "tests/fuzz/corpus/$n"
        done
        ;;
    integration)
        for t in tests/integration/test_*.py; do
            [ -f "$t" ] || continue
            run_one "integration/$(basename "$t" .py)" 300 python3 "$t"
        done
        ;;
    *) echo "run.sh: unknown kind $kind (unit, fuzz, integration)" >&2; exit 2 ;;
    esac
done

echo
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
