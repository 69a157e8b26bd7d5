#!/usr/bin/env bash
# bench/net.sh: guest->host TCP throughput over a TAP interface, ferrovisor
# (`fv run --net tap=...`, virtio-net) vs QEMU TCG (`qemu-system-riscv64 -M
# virt`, `-device virtio-net-device` on `-netdev tap`), same kernel and
# initramfs (`fv guest fetch`), 1 hart, 512 MiB.
#
# Each run: a fresh TAP (10.0.2.1/24) in a network namespace of the script's
# own; a receiver (python3) in the namespace on 10.0.2.1:5001; the guest
# loads its virtio modules (fv.modules=1), configures eth0 as 10.0.2.15/24
# and runs `dd if=/dev/zero bs=1M count=MIB | nc 10.0.2.1 5001`. The receiver
# times from accepting the connection to the last of MIB MiB (host clock),
# so boot time is not counted. Engines alternate run by run.
#
# Usage: bench/net.sh [--runs R] [--mib M] [--timeout S] [--markdown FILE]
#                     [--logdir DIR] [--no-build]
# Needs root (netns, TAP), python3, ip (iproute2), qemu-system-riscv64.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

RUNS=3
MIB=32
TIMEOUT=600
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
        --mib) MIB=${2:?--mib needs a value}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "net.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done
for v in RUNS MIB TIMEOUT; do
    if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then echo "net.sh: --${v,,} must be a positive integer" >&2; exit 2; fi
done
if [ "$(id -u)" != 0 ]; then echo "net.sh: needs root (network namespace, TAP)" >&2; exit 2; fi
bench_init net.sh
bench_need ip python3 timeout
bench_fv_and_guest
bench_qemu

if [ -z "$LOGDIR" ]; then LOGDIR=$(mktemp -d /tmp/fv-bench-net.XXXXXX); fi
mkdir -p "$LOGDIR"
FV_RUN=$LOGDIR/fv
cp -f "$FV" "$FV_RUN"
RESULTS=$LOGDIR/results.tsv
printf 'engine\trun\tstatus\tseconds\tmib_per_s\tloadavg\n' > "$RESULTS"
log "logs in $LOGDIR"

NS=fvbench-$$
TAP=fvbtap0
cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up

APPEND="console=ttyS0 panic=-1 fv.modules=1"
BYTES=$((MIB << 20))
GUEST_CMDS="ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; sleep 1; dd if=/dev/zero bs=1M count=$MIB 2>/dev/null | nc 10.0.2.1 5001; echo FV-NET-\$((1+1))-DONE; poweroff -f"

RECEIVER='
import socket, sys, time
n = int(sys.argv[1])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.2.1", 5001)); s.listen(1); s.settimeout(float(sys.argv[2]))
c, _ = s.accept(); c.settimeout(120)
t0 = time.monotonic(); got = 0
while got < n:
    b = c.recv(1 << 20)
    if not b: break
    got += len(b)
t1 = time.monotonic()
c.close()
print("RECEIVED %d %.3f" % (got, t1 - t0), flush=True)
'

engine_cmd() {
    case "$1" in
        fv) CMD=("$FV_RUN" run --kernel "$KERNEL" --initrd "$INITRD" --append "$APPEND"
                 --cpus 1 --mem 512M --console stdio --net "tap=$TAP") ;;
        qemu) CMD=("$QEMU" -M virt -m 512 -smp 1 -nographic -bios default
                   -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND" -no-reboot
                   -netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no"
                   -device virtio-net-device,netdev=n0) ;;
    esac
}

run_one() {
    local engine=$1 run=$2 logf=$LOGDIR/$1-$2.log recvf=$LOGDIR/$1-$2.recv
    local load status secs="" rate="" got
    load=$(cut -d' ' -f1 /proc/loadavg)
    ip -n "$NS" link del "$TAP" 2>/dev/null || true
    ip -n "$NS" tuntap add "$TAP" mode tap
    ip -n "$NS" addr add 10.0.2.1/24 dev "$TAP"
    ip -n "$NS" link set "$TAP" up
    ip netns exec "$NS" python3 -c "$RECEIVER" "$BYTES" "$TIMEOUT" > "$recvf" 2>&1 &
    local rpid=$!
    sleep 0.5
    engine_cmd "$engine"
    # Commands go in once the modules are loaded (the serial port is open
    # and the shell is about to read it); the console input is a FIFO held
    # open here until the engine exits.
    local fifo=$LOGDIR/console.fifo infd epid waited=0
    rm -f "$fifo"; mkfifo "$fifo"
    exec {infd}<>"$fifo"
    ip netns exec "$NS" timeout --kill-after=10 "$TIMEOUT" "${CMD[@]}" <"$fifo" >"$logf" 2>&1 &
    epid=$!
    while kill -0 "$epid" 2>/dev/null && ! grep -aq FV-GUEST-MODULES-LOADED "$logf"; do
        sleep 0.2
        waited=$((waited + 1))
        if [ $waited -gt $((TIMEOUT * 5)) ]; then break; fi
    done
    sleep 3
    printf '%s\n' "$GUEST_CMDS" >&"$infd"
    wait "$epid" 2>/dev/null || true
    exec {infd}>&-
    rm -f "$fifo"
    # The receiver has its figure by now unless the guest never sent.
    ( sleep 5; kill "$rpid" 2>/dev/null ) &
    wait "$rpid" 2>/dev/null || true
    status=ok
    if ! grep -q 'FV-NET-2-DONE' "$logf"; then status=no-done; fi
    if read -r _ got secs < <(grep '^RECEIVED' "$recvf"); then
        if [ "$got" != "$BYTES" ]; then status=short-$got; fi
        rate=$(awk -v b="$got" -v s="$secs" 'BEGIN { if (s > 0) printf "%.2f", b / 1048576 / s }')
    else
        status=no-receive
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$engine" "$run" "$status" "$secs" "$rate" "$load" >> "$RESULTS"
    log "$engine run $run: $status ${secs:-?} s ${rate:-?} MiB/s load=$load"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
DATE_START=$(date -u '+%Y-%m-%d %H:%M UTC')
for run in $(seq 1 "$RUNS"); do
    if (( run % 2 )); then order=(fv qemu); else order=(qemu fv); fi
    for engine in "${order[@]}"; do run_one "$engine" "$run"; done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit
    if (NR % 2) printf "%s", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
cells() { awk -F'\t' -v e="$1" 'NR > 1 && $1 == e { printf "%s%s", (n++ ? " | " : ""), ($3 == "ok" ? $5 : "FAIL(" $3 ")") }' "$RESULTS"; }
med() { awk -F'\t' -v e="$1" 'NR > 1 && $1 == e && $3 == "ok" { print $5 }' "$RESULTS" | median; }

report() {
    local fvm qm ratio="n/a"
    fvm=$(med fv); qm=$(med qemu)
    if [ -n "$fvm" ] && [ -n "$qm" ]; then ratio=$(awk -v a="$fvm" -v b="$qm" 'BEGIN { printf "%.2f", a / b }'); fi
    printf '### Results (%s)\n\n' "$DATE_START"
    printf 'MiB/s received on the host, %s MiB guest->host through `nc`, timed from accept to the last byte. ' "$MIB"
    printf 'Ratio = ferrovisor median / QEMU median (<1: ferrovisor slower).\n\n'
    printf '| engine |'; for i in $(seq 1 "$RUNS"); do printf ' run %s |' "$i"; done; printf ' median | fv/QEMU |\n'
    printf '|---|'; for i in $(seq 1 "$RUNS"); do printf -- '---:|'; done; printf -- '---:|---:|\n'
    printf '| ferrovisor | %s | %s | %s |\n' "$(cells fv)" "${fvm:-n/a}" "$ratio"
    printf '| QEMU TCG | %s | %s | |\n' "$(cells qemu)" "${qm:-n/a}"
    printf '\n- CPU: %s; nproc %s\n' "$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)" "$(nproc)"
    printf -- '- load average before: %s, after: %s (other jobs were not stopped)\n' "$LOAD_BEFORE" "$LOAD_AFTER"
    printf -- '- QEMU: %s; ferrovisor commit %s\n' "$("$QEMU" --version | head -n1)" "$(git -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
    printf '\nCommand: `%s`\n' "$INVOCATION"
}
REPORT=$(report)
printf '%s\n' "$REPORT"
[ -z "$MARKDOWN" ] || printf '%s\n' "$REPORT" > "$MARKDOWN"
log "raw results: $RESULTS"
