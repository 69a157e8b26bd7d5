#!/usr/bin/env bash
# bench/io.sh: disk throughput inside the guest, ferrovisor (`fv run --disk`,
# our interpreter and virtio-blk) beside QEMU TCG (`qemu-system-riscv64 -M
# virt`, virtio-blk-device), on the same kernel, initramfs and raw image.
#
# Each boot loads the virtio modules (kernel argument fv.modules=1), waits
# for the root shell on the console, then runs on /dev/vda
#   dd if=/dev/zero of=/dev/vda bs=1M count=64 oflag=direct   (write)
#   dd if=/dev/vda of=/dev/null bs=1M count=64 iflag=direct   (read)
# and powers off. Throughput = 64 MiB / the time the guest measured around
# each dd (kernel monotonic clock from /proc/timer_list: busybox dd prints no
# summary line), in MiB/s. Engines alternate run by run (QEMU first on even
# runs) so both see the same machine load.
#
# Usage: bench/io.sh [--runs R] [--size MiB] [--timeout S] [--markdown FILE]
#                    [--logdir DIR] [--no-build]
# See bench/README.md.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

RUNS=3
SIZE_MIB=128
TIMEOUT=600
MARKDOWN=""
LOGDIR=""
BUILD=1
COUNT=64
ORIG_ARGS=("$@")

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
while [ $# -gt 0 ]; do
    bench_opt "$@"
    if [ "$BENCH_SHIFT" -gt 0 ]; then shift "$BENCH_SHIFT"; continue; fi
    case "$1" in
        --size) SIZE_MIB=${2:?--size needs a value}; shift 2 ;;
        --size=*) SIZE_MIB=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "io.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done

if ! [[ $RUNS =~ ^[1-9][0-9]*$ ]]; then echo "io.sh: --runs must be a positive integer" >&2; exit 2; fi
if ! [[ $TIMEOUT =~ ^[1-9][0-9]*$ ]]; then echo "io.sh: --timeout must be a positive integer (seconds)" >&2; exit 2; fi
if ! [[ $SIZE_MIB =~ ^[1-9][0-9]*$ ]] || [ "$SIZE_MIB" -lt "$COUNT" ]; then
    echo "io.sh: --size must be at least $COUNT (MiB)" >&2; exit 2
fi

bench_init io.sh
bench_fv_and_guest
bench_qemu
bench_need timeout awk sort mkfifo fallocate

if [ -z "$LOGDIR" ]; then LOGDIR=$(mktemp -d /tmp/fv-bench-io.XXXXXX); fi
mkdir -p "$LOGDIR"
RESULTS=$LOGDIR/results.tsv
printf 'engine\trun\tstatus\trc\twrite_mibs\tread_mibs\tloadavg_before\n' > "$RESULTS"
log "logs and raw results in $LOGDIR"
FV_RUN=$LOGDIR/fv
cp -f "$FV" "$FV_RUN"
FV_SHA=$(sha256sum "$FV_RUN" | cut -c1-16)

# One raw image for every run, allocated up front (not sparse) so that the
# first write of neither engine pays for block allocation in the host file.
IMG=$LOGDIR/disk.raw
rm -f "$IMG"
fallocate -l "${SIZE_MIB}MiB" "$IMG"
IMG_FS=$(stat -f -c %T "$IMG" 2>/dev/null || echo unknown)

APPEND="console=ttyS0 fv.modules=1"

# engine_cmd ENGINE: fills CMD with the command line of one boot.
engine_cmd() {
    case "$1" in
        fv) CMD=("$FV_RUN" run --kernel "$KERNEL" --initrd "$INITRD" --append "$APPEND"
                 --cpus 1 --mem 512M --disk "$IMG,format=raw" --console stdio) ;;
        qemu) CMD=("$QEMU" -M virt -m 512 -smp 1 -nographic -bios default
                   -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND" -no-reboot
                   -drive "file=$IMG,format=raw,if=none,id=d0" -device virtio-blk-device,drive=d0) ;;
        *) echo "engine_cmd: bad engine $1" >&2; exit 1 ;;
    esac
}

# The guest's part. busybox dd in the default guest prints only the
# "records in/out" lines (no "bytes ... copied, ... seconds" summary), so the
# guest times each dd itself: "now at N nsecs" from /proc/timer_list, the
# kernel's monotonic clock in ns (/proc/uptime has 10 ms steps, busybox date
# no %N).
# The console echoes every command: markers are computed in the guest
# ($((1)) becomes 1) so the echo never matches them.
GUEST_SCRIPT="s=\$(grep -m1 'now at' /proc/timer_list | cut -d' ' -f3); dd if=/dev/zero of=/dev/vda bs=1M count=$COUNT oflag=direct 2>&1 | sed 's/^/FV-IO-WDD /'; e=\$(grep -m1 'now at' /proc/timer_list | cut -d' ' -f3); echo FV-IO-\$((1))-W \$s \$e
s=\$(grep -m1 'now at' /proc/timer_list | cut -d' ' -f3); dd if=/dev/vda of=/dev/null bs=1M count=$COUNT iflag=direct 2>&1 | sed 's/^/FV-IO-RDD /'; e=\$(grep -m1 'now at' /proc/timer_list | cut -d' ' -f3); echo FV-IO-\$((1))-R \$s \$e
poweroff
"

# wait_for FILE REGEX SECONDS PID: 0 once a line of FILE matches, 1 on
# timeout or when PID has exited.
wait_for() {
    local deadline=$((SECONDS + $3))
    while [ $SECONDS -lt $deadline ]; do
        grep -aEq "$2" "$1" 2>/dev/null && return 0
        kill -0 "$4" 2>/dev/null || { grep -aEq "$2" "$1" 2>/dev/null; return; }
        sleep 0.5
    done
    return 1
}

# mibs FILE W|R: MiB/s of the write or read, if dd reported all records out.
mibs() {
    grep -aq "^FV-IO-$2DD $COUNT+0 records out" "$1" || return 0
    grep -a "^FV-IO-1-$2 " "$1" | awk -v mib="$COUNT" '{
        d = ($3 - $2) / 1e9; if (d > 0) { printf "%.1f", mib / d; exit } }'
}

# run_one ENGINE RUN: one boot, appends a line to $RESULTS.
run_one() {
    local engine=$1 run=$2
    local logf=$LOGDIR/$engine-$run.log fifo=$LOGDIR/$engine-$run.in
    local pid rc status=ok w="" r="" load
    load=$(cut -d' ' -f1 /proc/loadavg)
    engine_cmd "$engine"
    rm -f "$fifo"; mkfifo "$fifo"
    : > "$logf"
    timeout --kill-after=10 "$TIMEOUT" "${CMD[@]}" < "$fifo" >> "$logf" 2>&1 &
    pid=$!
    # Writes after the engine exited must fail, not kill the script.
    trap '' PIPE
    exec 3> "$fifo"
    # The shell is up once it answers; input typed earlier is kept by the
    # guest's tty (fv also holds it until the serial port is opened).
    if wait_for "$logf" 'FV-GUEST-MODULES-LOADED' "$TIMEOUT" "$pid"; then
        local tries=0 ready=0
        while [ $tries -lt 60 ]; do
            printf 'echo FV-IO-SHELL-$((40+2))\n' >&3 || break
            if wait_for "$logf" 'FV-IO-SHELL-42' 5 "$pid"; then ready=1; break; fi
            tries=$((tries + 1))
        done
        if [ "$ready" = 1 ]; then printf '%s' "$GUEST_SCRIPT" >&3 || true
        else status=no-shell; fi
    else
        status=no-modules
    fi
    rc=0
    wait "$pid" || rc=$?
    exec 3>&-
    trap - PIPE
    rm -f "$fifo"
    w=$(mibs "$logf" W)
    r=$(mibs "$logf" R)
    if [ "$status" = ok ]; then
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status=timeout
        elif [ "$rc" != 0 ]; then status=rc$rc
        elif [ -z "$w" ] || [ -z "$r" ]; then status=no-dd-result
        fi
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$engine" "$run" "$status" "$rc" "$w" "$r" "$load" >> "$RESULTS"
    log "$(printf '%-4s run %s: %s rc=%s write=%s MiB/s read=%s MiB/s load=%s' \
        "$engine" "$run" "$status" "$rc" "${w:--}" "${r:--}" "$load")"
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
log "runs=$RUNS image=${SIZE_MIB}MiB ($IMG_FS) timeout=${TIMEOUT}s loadavg=$LOAD_BEFORE"
for run in $(seq 1 "$RUNS"); do
    if (( run % 2 )); then order=(fv qemu); else order=(qemu fv); fi
    for engine in "${order[@]}"; do
        run_one "$engine" "$run"
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
# cells ENGINE COLUMN: per-run cells ("12.3" or "FAIL(status)"), tab-separated.
cells() {
    awk -F'\t' -v e="$1" -v c="$2" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == e {
            v = ($3 == "ok" && $col[c] != "") ? $col[c] : "FAIL(" $3 ")"
            out = out (out == "" ? "" : "\t") v
        }
        END { print out }' "$RESULTS"
}
median() { # numbers on stdin, one a line -> median or empty
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit
        if (NR % 2) printf "%.1f", v[(NR + 1) / 2]
        else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

quote_cmd() {
    local out="" a q="'"
    for a in "$@"; do
        if [ "$a" = "$FV_RUN" ]; then a=$FV; fi
        a=${a#"$REPO"/}
        a=${a/#"$HOME"\//\~/}
        a=${a//"$IMG"/IMG}
        if ! [[ $a =~ ^[][A-Za-z0-9_./~=:,+@%-]+$ ]]; then a="'${a//$q/$q\\$q$q}'"; fi
        out+="${out:+ }$a"
    done
    printf '%s' "$out"
}

report() {
    local metric col engine c med fvmed qmed ratio row i n_ok
    printf '### Results (%s)\n\n' "$DATE_START"
    printf 'MiB/s inside the guest (%s MiB / the time around each dd by the guest kernel'"'"'s monotonic clock, `now at` in /proc/timer_list; busybox dd prints no throughput line): `write` = `dd if=/dev/zero of=/dev/vda bs=1M count=%s oflag=direct`, ' "$COUNT" "$COUNT"
    printf '`read` = `dd if=/dev/vda of=/dev/null bs=1M count=%s iflag=direct`. ' "$COUNT"
    printf 'Ratio = ferrovisor median / QEMU median (<1: ferrovisor slower). Failed runs are shown as FAIL(...) and left out of the median.\n\n'
    printf '| engine | metric |'
    for i in $(seq 1 "$RUNS"); do printf ' run %s |' "$i"; done
    printf ' median | fv/QEMU |\n|---|---|'
    for i in $(seq 1 "$RUNS"); do printf -- '---:|'; done
    printf -- '---:|---:|\n'
    for metric in write read; do
        col=${metric}_mibs
        fvmed=$(cells fv "$col" | tr '\t' '\n' | grep -E '^[0-9.]+$' | median || true)
        qmed=$(cells qemu "$col" | tr '\t' '\n' | grep -E '^[0-9.]+$' | median || true)
        ratio="n/a"
        if [ -n "$fvmed" ] && [ -n "$qmed" ] && awk -v b="$qmed" 'BEGIN { exit !(b > 0) }'; then
            ratio=$(awk -v a="$fvmed" -v b="$qmed" 'BEGIN { printf "%.2f", a / b }')
        fi
        for engine in fv qemu; do
            c=$(cells "$engine" "$col")
            n_ok=$(printf '%s\n' "$c" | tr '\t' '\n' | grep -cE '^[0-9.]+$' || true)
            if [ "$engine" = fv ]; then med=$fvmed; row="| ferrovisor | $metric |"
            else med=$qmed; row="| QEMU TCG | $metric |"; fi
            row+=" $(printf '%s' "$c" | sed 's/\t/ | /g') |"
            if [ -n "$med" ]; then
                if [ "$n_ok" -lt "$RUNS" ]; then row+=" $med ($n_ok/$RUNS ok) |"; else row+=" $med |"; fi
            else row+=" n/a |"; fi
            if [ "$engine" = fv ]; then row+=" $ratio |"; else row+=" |"; fi
            printf '%s\n' "$row"
        done
    done
    printf '\nHost and versions:\n\n'
    printf -- '- CPU: %s; nproc %s; host kernel %s\n' "$CPU_MODEL" "$HOST_NPROC" "$HOST_KERNEL"
    printf -- '- load average (1/5/15 min) before: %s, after: %s (other jobs were not stopped)\n' "$LOAD_BEFORE" "$LOAD_AFTER"
    printf -- '- QEMU: %s (TCG, OpenSBI from `-bios default`, default drive cache mode)\n' "$QEMU_VERSION"
    printf -- '- ferrovisor: commit %s%s%s, release build (binary sha256 %s…, copied before the runs)\n' "$FV_COMMIT" \
        "$([ "$FV_DIRTY" != 0 ] && printf ' (working tree had %s modified tracked files)' "$FV_DIRTY")" \
        "${FV_VERSION:+, \`$FV_VERSION\`}" "$FV_SHA"
    printf -- '- guest: Image sha256 %s…, initramfs.cpio.gz sha256 %s…%s; 1 hart, 512 MiB\n' "$KERNEL_SHA" "$INITRD_SHA" \
        "${GUEST_KERNEL_PKG:+ ($GUEST_KERNEL_PKG)}"
    printf -- '- disk: one raw image of %s MiB (fallocate, host file system %s) for every run\n' "$SIZE_MIB" "$IMG_FS"
    printf -- '- runs: %s per engine, engines alternated run by run, timeout %s s per boot\n' "$RUNS" "$TIMEOUT"
    printf '\nCommand: `%s`\n\n' "$INVOCATION"
    printf 'Engine command lines (IMG = the raw image; paths from `fv guest fetch`):\n\n```\n'
    engine_cmd fv; quote_cmd "${CMD[@]}"; printf '\n'
    engine_cmd qemu; quote_cmd "${CMD[@]}"; printf '\n```\n'
}

REPORT=$(report)
printf '%s\n' "$REPORT"
if [ -n "$MARKDOWN" ]; then
    printf '%s\n' "$REPORT" > "$MARKDOWN"
    log "markdown written to $MARKDOWN"
fi
rm -f "$IMG"
log "raw results: $RESULTS"
if awk -F'\t' 'NR > 1 && $3 != "ok" { bad = 1 } END { exit !bad }' "$RESULTS"; then
    log "some runs failed (see FAIL cells and logs in $LOGDIR)"
    exit 1
fi
