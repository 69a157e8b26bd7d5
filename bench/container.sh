#!/usr/bin/env bash
# bench/container.sh: create + start + delete latency of /bin/true on one
# busybox bundle, ferrovisor (`fv oci`) side by side with runc and crun in
# one run, via hyperfine. Prints a Markdown report (and writes it with
# --markdown FILE). Needs root.
#
#   bash bench/container.sh                    # 100 runs each
#   bash bench/container.sh --runs 20 --no-build --markdown /tmp/ctr.md
#
# Options: --runs N (default 100), --warmup N (default 5), --markdown FILE,
# --workdir DIR (default: a fresh /tmp/fv-bench-ctr.XXXXXX), --no-build
# (skip `cargo build --release -p fv-cli`). FV=/path/to/fv overrides the
# binary (default $CARGO_TARGET_DIR/release/fv, else target/release/fv).
# Installs runc, crun, hyperfine and busybox-static with apt-get if missing.
#
# Each measured command is one shell line, per runtime R:
#   R create --bundle B ID && R start ID && R delete --force ID
# (`--force` because /bin/true may not have exited yet when delete runs;
# the same for all three). The bundle's config.json comes from `runc spec`
# with args ["/bin/true"] and terminal false; fv runs it with FV_ROOT in
# the work dir (its state root), runc and crun with --root there too.
#
# Hybrid cgroup hosts: crun (1.8) refuses to run when the cgroup v2 mount
# (/sys/fs/cgroup/unified) has controllers ("cgroups in hybrid mode not
# supported"). Then the whole measurement runs in a private mount
# namespace (`unshare -m`) where that v2 mount is unmounted, so all three
# runtimes see the same v1-only cgroup tree; the host's mounts are untouched.
set -euo pipefail

ARGS=("$@")
RUNS=100
WARMUP=5
MARKDOWN=""
WORKDIR=""
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --markdown) MARKDOWN="$2"; shift 2 ;;
        --workdir) WORKDIR="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "container.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" != 0 ]; then
    echo "container.sh: needs root (namespaces, cgroups)" >&2
    exit 2
fi

HERE="$(cd "$(dirname "$0")/.." && pwd)"
CGROUP_NOTE="cgroup tree as on the host"
if [ -z "${FV_BENCH_INNER:-}" ] \
    && [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]; then
    export FV_BENCH_INNER=1
    exec unshare -m --propagation private sh -c \
        'umount /sys/fs/cgroup/unified && exec bash "$0" "$@"' "$0" "${ARGS[@]}"
fi
if [ -n "${FV_BENCH_INNER:-}" ]; then
    CGROUP_NOTE="hybrid host: run in a private mount namespace without the cgroup v2 mount (crun refuses hybrid mode), all three on cgroup v1"
fi
TARGET="${CARGO_TARGET_DIR:-$HERE/target}"
FV="${FV:-$TARGET/release/fv}"
if [ "$BUILD" = 1 ]; then
    (cd "$HERE" && cargo build --release -p fv-cli)
fi

need=()
command -v runc >/dev/null || need+=(runc)
command -v crun >/dev/null || need+=(crun)
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    apt-get install -y "${need[@]}"
fi

WORKDIR="${WORKDIR:-$(mktemp -d /tmp/fv-bench-ctr.XXXXXX)}"
mkdir -p "$WORKDIR"
# A private copy: the shared target dir may be rebuilt during the run.
cp "$FV" "$WORKDIR/fv"
FV="$WORKDIR/fv"
B="$WORKDIR/bundle"
rm -rf "$B"
mkdir -p "$B/rootfs/bin"
for d in proc sys dev tmp etc root; do mkdir -p "$B/rootfs/$d"; done
cp /bin/busybox "$B/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$B/rootfs/bin/$a"
done
(cd "$B" && runc spec)
python3 - "$B/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open(p, "w"), indent=2)
EOF

mkdir -p "$WORKDIR/state-fv" "$WORKDIR/state-runc" "$WORKDIR/state-crun"
FVCMD="FV_ROOT=$WORKDIR/state-fv $FV oci"
RUNC="runc --root $WORKDIR/state-runc"
CRUN="crun --root $WORKDIR/state-crun"
line() { # runtime-command id
    echo "$1 create --bundle $B $2 >/dev/null && $1 start $2 && $1 delete --force $2"
}
# One sanity pass each, so a broken runtime fails loudly before timing.
for r in "$FVCMD" "$RUNC" "$CRUN"; do
    sh -c "$(line "$r" bench-check)"
done

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
hyperfine --runs "$RUNS" --warmup "$WARMUP" --style basic \
    --export-json "$WORKDIR/hyperfine.json" \
    -n ferrovisor "$(line "$FVCMD" bench-fv)" \
    -n runc "$(line "$RUNC" bench-runc)" \
    -n crun "$(line "$CRUN" bench-crun)" >"$WORKDIR/hyperfine.txt" 2>&1 \
    || { cat "$WORKDIR/hyperfine.txt" >&2; exit 1; }
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

report="$(python3 - "$WORKDIR/hyperfine.json" "$RUNS" "$LOAD_BEFORE" "$LOAD_AFTER" \
    "$(runc --version | head -1)" "$(crun --version | head -1)" \
    "$(cd "$HERE" && git rev-parse --short=12 HEAD)" "$CGROUP_NOTE" "$(nproc)" <<'EOF'
import json, sys, statistics, datetime
res = json.load(open(sys.argv[1]))["results"]
runs, lb, la, runcv, crunv, commit, cgnote, ncpu = sys.argv[2:10]
def q(xs, f):
    xs = sorted(xs); k = (len(xs) - 1) * f; i = int(k)
    return xs[i] if i + 1 >= len(xs) else xs[i] + (xs[i + 1] - xs[i]) * (k - i)
rows = {}
for r in res:
    t = [x * 1000 for x in r["times"]]
    rows[r["command"]] = dict(med=statistics.median(t), mean=statistics.mean(t),
        sd=statistics.stdev(t) if len(t) > 1 else 0.0, p25=q(t, .25), p75=q(t, .75),
        lo=min(t), hi=max(t), n=len(t))
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(f"### Results ({now})\n")
print(f"{runs} runs per runtime after warm-up (hyperfine runs all of one runtime, "
      f"then the next); commit {commit}; {runcv}; {crunv}; "
      f"{ncpu} CPUs, load average before {lb}, after {la}; {cgnote}. Wall-clock ms of "
      "`create` + `start` + `delete --force` of `/bin/true` on the same bundle. "
      "Ratio = ferrovisor median / other median (>1: ferrovisor slower).\n")
print("| runtime | median | p25-p75 | mean ± sd | min | max | ferrovisor / this |")
print("|---|---:|---:|---:|---:|---:|---:|")
fv = rows["ferrovisor"]["med"]
for name in ["ferrovisor", "runc", "crun"]:
    r = rows[name]
    ratio = "" if name == "ferrovisor" else f"{fv / r['med']:.2f}"
    print(f"| {name} | {r['med']:.1f} | {r['p25']:.1f}-{r['p75']:.1f} | "
          f"{r['mean']:.1f} ± {r['sd']:.1f} | {r['lo']:.1f} | {r['hi']:.1f} | {ratio} |")
EOF
)"
echo "$report"
[ -z "$MARKDOWN" ] || echo "$report" >"$MARKDOWN"
echo "raw: $WORKDIR/hyperfine.json $WORKDIR/hyperfine.txt" >&2
