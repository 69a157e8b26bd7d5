#!/usr/bin/env bash
# bench/boot.sh: boot the default RISC-V guest under ferrovisor (`fv run`, our
# interpreter) and under QEMU TCG (`qemu-system-riscv64 -M virt`, OpenSBI from
# `-bios default`) on the same kernel and initramfs, and compare.
#
# Metrics (wall clock, $EPOCHREALTIME taken as each console line is read):
#   ready    ms from launch to the FV-GUEST-READY line      (fv.test=boot)
#   exit     ms from launch to process exit                 (fv.test=boot)
#   compute  ms between FV-BENCH-START and FV-BENCH-END     (fv.test=bench:
#            dd if=/dev/zero bs=1M count=32 | sha256sum in the guest; the
#            hash must equal the host's or the run counts as failed)
# For each hart count, run i does: fv boot, qemu boot, fv bench, qemu bench
# (qemu first on even runs), so both engines see the same machine load.
#
# Usage: bench/boot.sh [--runs R] [--harts "1 2"] [--timeout S] [--markdown FILE]
#                      [--logdir DIR] [--no-build]
# See bench/README.md.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

RUNS=3
HARTS="1 2"
TIMEOUT=300
MARKDOWN=""
LOGDIR=""
BUILD=1
ORIG_ARGS=("$@")

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
while [ $# -gt 0 ]; do
    bench_opt "$@"
    if [ "$BENCH_SHIFT" -gt 0 ]; then shift "$BENCH_SHIFT"; continue; fi
    case "$1" in
        --harts) HARTS=${2:?--harts needs a value}; shift 2 ;;
        --harts=*) HARTS=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "boot.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done

if ! [[ $RUNS =~ ^[1-9][0-9]*$ ]]; then echo "boot.sh: --runs must be a positive integer" >&2; exit 2; fi
if ! [[ $TIMEOUT =~ ^[1-9][0-9]*$ ]]; then echo "boot.sh: --timeout must be a positive integer (seconds)" >&2; exit 2; fi
for n in $HARTS; do
    if ! [[ $n =~ ^[1-8]$ ]]; then echo "boot.sh: --harts takes hart counts 1..8, got '$n'" >&2; exit 2; fi
done

bench_init boot.sh
bench_fv_and_guest
bench_qemu
bench_need timeout sha256sum awk sort

EXPECTED_HASH=$(head -c 33554432 /dev/zero | sha256sum | cut -d' ' -f1)

if [ -z "$LOGDIR" ]; then LOGDIR=$(mktemp -d /tmp/fv-bench-boot.XXXXXX); fi
mkdir -p "$LOGDIR"
RESULTS=$LOGDIR/results.tsv
printf 'engine\tharts\ttest\trun\tstatus\trc\tready_ms\texit_ms\tcompute_ms\tloadavg_before\n' > "$RESULTS"
log "logs and raw results in $LOGDIR"
# Run a private copy: the target dir is shared, and a rebuild by someone else
# during the runs would otherwise swap the binary under the benchmark.
FV_RUN=$LOGDIR/fv
cp -f "$FV" "$FV_RUN"
FV_SHA=$(sha256sum "$FV_RUN" | cut -c1-16)

BASE_APPEND="console=ttyS0 panic=-1"

# engine_cmd ENGINE HARTS APPEND: fills CMD with the command line of one boot.
engine_cmd() {
    case "$1" in
        fv) CMD=("$FV_RUN" run --kernel "$KERNEL" --initrd "$INITRD" --append "$3"
                 --cpus "$2" --console stdio) ;;
        qemu) CMD=("$QEMU" -M virt -m 512 -smp "$2" -nographic -bios default
                   -kernel "$KERNEL" -initrd "$INITRD" -append "$3" -no-reboot) ;;
        *) echo "engine_cmd: bad engine $1" >&2; exit 1 ;;
    esac
}

ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

# run_one ENGINE HARTS TEST RUN: one boot, appends a line to $RESULTS.
run_one() {
    local engine=$1 harts=$2 test=$3 run=$4
    local append="$BASE_APPEND fv.test=$test"
    local logf=$LOGDIR/$engine-smp$harts-$test-$run.log
    local t0 t1 t_ready="" t_start="" t_end="" hash="" line rc status
    local ready_ms="" exit_ms="" compute_ms="" load
    load=$(cut -d' ' -f1 /proc/loadavg)
    engine_cmd "$engine" "$harts" "$append"
    : > "$logf"
    t0=$EPOCHREALTIME
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in
            *FV-GUEST-READY*) [ -n "$t_ready" ] || t_ready=$EPOCHREALTIME ;;
            *FV-BENCH-START*) [ -n "$t_start" ] || t_start=$EPOCHREALTIME ;;
            *FV-BENCH-END*)
                if [ -z "$t_end" ]; then
                    t_end=$EPOCHREALTIME
                    if [[ $line =~ FV-BENCH-END[[:space:]]+([0-9a-f]{64}) ]]; then hash=${BASH_REMATCH[1]}; fi
                fi ;;
        esac
        printf '%s\n' "$line" >> "$logf"
    done < <(rc=0; timeout --kill-after=10 "$TIMEOUT" "${CMD[@]}" </dev/null 2>&1 || rc=$?
             printf '\n__RC=%s\n' "$rc")
    t1=$EPOCHREALTIME
    # (set -e is inherited by the process substitution, hence the explicit rc=.)
    rc=$(grep -a '^__RC=' "$logf" | tail -n1 | cut -d= -f2 || true)
    rc=${rc:-unknown}

    status=ok
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status=timeout
    elif [ "$rc" != 0 ]; then status=rc$rc
    elif [ -z "$t_ready" ]; then status=no-ready
    elif [ "$test" = bench ] && { [ -z "$t_start" ] || [ -z "$t_end" ]; }; then status=no-bench-marks
    elif [ "$test" = bench ] && [ "$hash" != "$EXPECTED_HASH" ]; then status=bad-hash
    fi
    [ -z "$t_ready" ] || ready_ms=$(ms "$t0" "$t_ready")
    exit_ms=$(ms "$t0" "$t1")
    if [ -n "$t_start" ] && [ -n "$t_end" ]; then compute_ms=$(ms "$t_start" "$t_end"); fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$engine" "$harts" "$test" "$run" \
        "$status" "$rc" "$ready_ms" "$exit_ms" "$compute_ms" "$load" >> "$RESULTS"
    log "$(printf '%-4s smp%s %-5s run %s: %s rc=%s ready=%sms exit=%sms compute=%sms load=%s' \
        "$engine" "$harts" "$test" "$run" "$status" "$rc" "${ready_ms:--}" "$exit_ms" "${compute_ms:--}" "$load")"
}

# ---------------------------------------------------------------- host facts
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)
CPU_MODEL=${CPU_MODEL:-unknown}
HOST_NPROC=$(nproc)
HOST_KERNEL="$(uname -s) $(uname -r) $(uname -m)"
QEMU_VERSION=$("$QEMU" --version | head -n1)
FV_COMMIT=$(git -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
FV_DIRTY=$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | wc -l | tr -d ' ')
FV_VERSION=$("$FV_RUN" --version 2>/dev/null | head -n1 || true)
KERNEL_SHA=$(sha256sum "$KERNEL" | cut -c1-16)
INITRD_SHA=$(sha256sum "$INITRD" | cut -c1-16)
GUEST_KERNEL_PKG=""
if [ -f "$(dirname "$KERNEL")/versions.txt" ]; then
    GUEST_KERNEL_PKG=$(grep -a -m1 -i 'linux-image' "$(dirname "$KERNEL")/versions.txt" || true)
fi
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
DATE_START=$(date -u '+%Y-%m-%d %H:%M UTC')

# ---------------------------------------------------------------- runs
log "runs=$RUNS harts=[$HARTS] timeout=${TIMEOUT}s loadavg=$LOAD_BEFORE"
for harts in $HARTS; do
    for run in $(seq 1 "$RUNS"); do
        if (( run % 2 )); then order=(fv qemu); else order=(qemu fv); fi
        for test in boot bench; do
            for engine in "${order[@]}"; do
                run_one "$engine" "$harts" "$test" "$run"
            done
        done
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
# cells ENGINE HARTS TEST COLUMN: prints the per-run cells ("1234" or "FAIL(status)"),
# tab-separated, in run order.
cells() {
    awk -F'\t' -v e="$1" -v h="$2" -v t="$3" -v c="$4" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == e && $2 == h && $3 == t {
            v = ($5 == "ok" && $col[c] != "") ? $col[c] : "FAIL(" $5 ")"
            out = out (out == "" ? "" : "\t") v
        }
        END { print out }' "$RESULTS"
}
median() { # numbers on stdin, one a line -> median (integer ms) or empty
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit
        if (NR % 2) printf "%d", v[(NR + 1) / 2]
        else printf "%d", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

metric_col() { case "$1" in ready|exit) echo boot ;; compute) echo bench ;; esac; }
col_name() { echo "$1_ms"; }

# quote_cmd ARGS...: a shell-pasteable command line (single quotes where needed).
quote_cmd() {
    local out="" a q="'"
    for a in "$@"; do
        if [ "$a" = "$FV_RUN" ]; then a=$FV; fi
        a=${a#"$REPO"/}
        a=${a/#"$HOME"\//\~/}
        if ! [[ $a =~ ^[][A-Za-z0-9_./~=:,+@%-]+$ ]]; then a="'${a//$q/$q\\$q$q}'"; fi
        out+="${out:+ }$a"
    done
    printf '%s' "$out"
}

report() {
    local harts metric test engine c med fvmed qmed ratio row i n_ok
    printf '### Results (%s)\n\n' "$DATE_START"
    printf 'Wall-clock ms; `ready` = launch to `FV-GUEST-READY` and `exit` = launch to process exit (`fv.test=boot`), '
    printf '`compute` = `FV-BENCH-START` to `FV-BENCH-END` (`fv.test=bench`: `dd if=/dev/zero bs=1M count=32 | sha256sum` in the guest). '
    printf 'Ratio = ferrovisor median / QEMU median (>1: ferrovisor slower). Failed runs are shown as FAIL(...) and left out of the median.\n\n'
    printf '| engine | harts | metric |'
    for i in $(seq 1 "$RUNS"); do printf ' run %s |' "$i"; done
    printf ' median | fv/QEMU |\n|---|---|---|'
    for i in $(seq 1 "$RUNS"); do printf -- '---:|'; done
    printf -- '---:|---:|\n'
    for harts in $HARTS; do
        for metric in ready exit compute; do
            test=$(metric_col "$metric")
            fvmed=$(cells fv "$harts" "$test" "$(col_name "$metric")" | tr '\t' '\n' | grep -E '^[0-9]+$' | median || true)
            qmed=$(cells qemu "$harts" "$test" "$(col_name "$metric")" | tr '\t' '\n' | grep -E '^[0-9]+$' | median || true)
            ratio="n/a"
            if [ -n "$fvmed" ] && [ -n "$qmed" ] && [ "$qmed" -gt 0 ]; then
                ratio=$(awk -v a="$fvmed" -v b="$qmed" 'BEGIN { printf "%.2f", a / b }')
            fi
            for engine in fv qemu; do
                c=$(cells "$engine" "$harts" "$test" "$(col_name "$metric")")
                n_ok=$(printf '%s\n' "$c" | tr '\t' '\n' | grep -cE '^[0-9]+$' || true)
                if [ "$engine" = fv ]; then med=$fvmed; row="| ferrovisor | $harts | $metric |"
                else med=$qmed; row="| QEMU TCG | $harts | $metric |"; fi
                row+=" $(printf '%s' "$c" | sed 's/\t/ | /g') |"
                if [ -n "$med" ]; then
                    if [ "$n_ok" -lt "$RUNS" ]; then row+=" $med ($n_ok/$RUNS ok) |"; else row+=" $med |"; fi
                else row+=" n/a |"; fi
                if [ "$engine" = fv ]; then row+=" $ratio |"; else row+=" |"; fi
                printf '%s\n' "$row"
            done
        done
    done
    printf '\nHost and versions:\n\n'
    printf -- '- CPU: %s; nproc %s; host kernel %s\n' "$CPU_MODEL" "$HOST_NPROC" "$HOST_KERNEL"
    printf -- '- load average (1/5/15 min) before: %s, after: %s (other jobs were not stopped)\n' "$LOAD_BEFORE" "$LOAD_AFTER"
    printf -- '- QEMU: %s (TCG, OpenSBI from `-bios default`)\n' "$QEMU_VERSION"
    printf -- '- ferrovisor: commit %s%s%s, release build (binary sha256 %s…, copied before the runs)\n' "$FV_COMMIT" \
        "$([ "$FV_DIRTY" != 0 ] && printf ' (working tree had %s modified tracked files)' "$FV_DIRTY")" \
        "${FV_VERSION:+, \`$FV_VERSION\`}" "$FV_SHA"
    printf -- '- guest: Image sha256 %s…, initramfs.cpio.gz sha256 %s…%s\n' "$KERNEL_SHA" "$INITRD_SHA" \
        "${GUEST_KERNEL_PKG:+ ($GUEST_KERNEL_PKG)}"
    printf -- '- runs: %s per engine and hart count, engines alternated run by run, timeout %s s per boot\n' "$RUNS" "$TIMEOUT"
    printf '\nCommand: `%s`\n\n' "$INVOCATION"
    printf 'Engine command lines (TEST = boot or bench, N = harts; paths from `fv guest fetch`):\n\n```\n'
    engine_cmd fv N "$BASE_APPEND fv.test=TEST"; quote_cmd "${CMD[@]}"; printf '\n'
    engine_cmd qemu N "$BASE_APPEND fv.test=TEST"; quote_cmd "${CMD[@]}"; printf '\n```\n'
}

REPORT=$(report)
printf '%s\n' "$REPORT"
if [ -n "$MARKDOWN" ]; then
    printf '%s\n' "$REPORT" > "$MARKDOWN"
    log "markdown written to $MARKDOWN"
fi
log "raw results: $RESULTS"
if awk -F'\t' 'NR > 1 && $5 != "ok" { bad = 1 } END { exit !bad }' "$RESULTS"; then
    log "some runs failed (see FAIL cells and logs in $LOGDIR)"
    exit 1
fi
