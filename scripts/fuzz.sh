#!/usr/bin/env bash
# A bounded coverage-guided fuzzing run (cargo-fuzz / libFuzzer) of every target in
# fuzz/, each from its checked-in corpus in fuzz/corpus/TARGET, for FUZZ_SECONDS
# (default 15) seconds. New inputs go to a temporary directory, so the run leaves the
# tree clean; a crash fails the run and leaves its input in fuzz/artifacts/TARGET/
# (add it to the corpus once fixed, so that it stays found).
#
# cargo-fuzz is installed into .tools/ (inside the repository); libFuzzer needs
# unstable rustc flags, which this stable toolchain allows with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-15}
tools="$PWD/.tools"
if [ ! -x "$tools/bin/cargo-fuzz" ]; then
    cargo install --quiet --locked --root "$tools" cargo-fuzz@0.13.2
fi
export PATH="$tools/bin:$PATH" RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list --fuzz-dir fuzz)
cargo fuzz build --fuzz-dir fuzz --sanitizer none
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in $targets; do
    mkdir -p "$scratch/$target"
    # -malloc_limit_mb: one allocation of half a gigabyte from a few bytes of input
    # is a bug (a declared count taken at its word), not a large document.
    cargo fuzz run --fuzz-dir fuzz --sanitizer none "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 \
        2> "$scratch/$target.log" || { cat "$scratch/$target.log" >&2; echo "fuzz: $target failed" >&2; exit 1; }
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$target.log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz: $target: $runs executions in ${seconds}s, no crash"
done
