#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS]: the fuzz targets in fuzz/, on the stable toolchain.
#   1. installs a C++ compiler if there is none (libfuzzer-sys builds libFuzzer),
#   2. runs the fuzz crate's own tests (each seed of the committed corpus does
#      what it says, the corpus matches its generator, the oracles can fail),
#   3. builds every target with libFuzzer's coverage instrumentation,
#   4. runs each target for SECONDS (default 60) from fuzz/corpus/<target>/:
#      every committed input first, then new ones (kept in a scratch
#      directory; the committed corpus is only read).
# A crash, an oracle violation or a hang fails the script; the input that did
# it is left in fuzz/artifacts/<target>/ with the command that replays it.
#
# Why not `cargo fuzz run`: it works on stable only as `cargo fuzz run
# --sanitizer none` (its default AddressSanitizer needs nightly's
# -Zsanitizer) and needs cargo-fuzz installed. This script passes the same
# instrumentation flags (all stable rustc options) to a plain
# `cargo build --release --target HOST`, so a clean machine needs nothing but
# stable Rust and a C++ compiler. ASan adds little here: the fuzz crate has
# no unsafe code and guest RAM accesses are bounds-checked.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-60}
if ! [[ $SECS =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz.sh: SECONDS must be a positive integer, got '$SECS'" >&2
    exit 2
fi

log() { printf '[fuzz.sh] %s\n' "$*" >&2; }

if ! command -v c++ >/dev/null 2>&1; then
    log "no C++ compiler: installing build-essential"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends build-essential >/dev/null
fi

MANIFEST=fuzz/Cargo.toml
HOST=$(rustc -vV | sed -n 's/^host: //p')
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/fuzz/target}
TARGETS=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$MANIFEST" | grep -v '^fv-fuzz$')

log "cargo test (fuzz crate: seeds, corpus, oracles)"
cargo test --manifest-path "$MANIFEST" -q

# cargo-fuzz's flags for `--sanitizer none` (libFuzzer's 8-bit counters,
# PC table and comparison tracing), plus debug assertions and overflow checks
# in the optimised build. `--target` keeps them off build scripts.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
log "cargo build --release --target $HOST (fuzz targets: $(echo $TARGETS))"
cargo build --manifest-path "$MANIFEST" --release --target "$HOST" --bins
unset RUSTFLAGS

failed=()
for t in $TARGETS; do
    bin=$TARGET_DIR/$HOST/release/$t
    corpus=fuzz/corpus/$t
    arts=$PWD/fuzz/artifacts/$t
    mkdir -p "$arts"
    work=$(mktemp -d "${TMPDIR:-/tmp}/fv-fuzz-$t.XXXXXX")
    log "$t: ${SECS}s from $corpus ($(ls "$corpus" | wc -l) inputs)"
    set +e
    "$bin" -max_total_time="$SECS" -timeout=60 -print_final_stats=1 \
        -artifact_prefix="$arts/" "$work" "$corpus" 2>&1 | tee "$work.log" | grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|Done |==|SUMMARY|panicked|thread )'
    rc=${PIPESTATUS[0]}
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log")
    if [ "$rc" = 0 ]; then
        echo "fuzz: $t: ok, ${runs:-?} inputs in ${SECS}s, no crash, hang or oracle violation"
        rm -f "$work.log"
    else
        echo "fuzz: $t: FAILED (exit $rc); log $work.log; inputs in $arts/"
        echo "fuzz: replay with: $bin $arts/<file>"
        tail -n 40 "$work.log"
        failed+=("$t")
    fi
    rm -rf "$work"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}"
    exit 1
fi
echo "fuzz: all targets passed ($(echo $TARGETS))"
