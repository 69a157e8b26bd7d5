# Sourced by the guest benchmarks (boot.sh, io.sh, net.sh) before their
# arguments are parsed: the options and steps every one of them shares.
#   bench_init NAME        log(), REPO, TARGET_DIR, INVOCATION (needs ORIG_ARGS)
#   bench_fv_and_guest     builds fv unless BUILD=0; sets FV, KERNEL, INITRD
#   bench_qemu             installs qemu-system-misc if missing; sets QEMU
#   bench_need TOOL...     exits 1 naming the first missing tool
#   bench_opt "$@"         parses one option all of them take (see below)

bench_init() {
    BENCH=$1
    REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
    # The command line as typed, for the report.
    INVOCATION="bash $0"
    for a in "${ORIG_ARGS[@]+"${ORIG_ARGS[@]}"}"; do INVOCATION+=" $(printf '%q' "$a")"; done
}

log() { printf '[%s] %s\n' "$BENCH" "$*" >&2; }

bench_need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "$BENCH: $tool is required" >&2; exit 1; }
    done
}

bench_fv_and_guest() {
    FV=${FV:-$TARGET_DIR/release/fv}
    if [ "$BUILD" = 1 ]; then
        log "cargo build --release -p fv-cli (no-op when up to date)"
        (cd "$REPO" && cargo build --release -p fv-cli) >&2
    fi
    if [ ! -x "$FV" ]; then echo "$BENCH: $FV not found (build failed or --no-build)" >&2; exit 1; fi
    log "fv guest fetch"
    local fetch_out
    fetch_out=$("$FV" guest fetch)
    KERNEL=$(printf '%s\n' "$fetch_out" | sed -n 's/^kernel:[[:space:]]*//p' | head -n1)
    INITRD=$(printf '%s\n' "$fetch_out" | sed -n 's/^initramfs:[[:space:]]*//p' | head -n1)
    if [ ! -f "$KERNEL" ] || [ ! -f "$INITRD" ]; then
        echo "$BENCH: could not parse kernel/initramfs paths from 'fv guest fetch':" >&2
        printf '%s\n' "$fetch_out" >&2
        exit 1
    fi
}

bench_qemu() {
    if ! command -v qemu-system-riscv64 >/dev/null 2>&1; then
        log "qemu-system-riscv64 missing: installing qemu-system-misc"
        local SUDO=()
        if [ "$(id -u)" != 0 ]; then SUDO=(sudo); fi
        "${SUDO[@]+"${SUDO[@]}"}" apt-get update >&2
        "${SUDO[@]+"${SUDO[@]}"}" env DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-system-misc >&2
    fi
    QEMU=$(command -v qemu-system-riscv64)
}

# The options every guest benchmark takes: --runs N, --timeout SECS,
# --markdown FILE, --logdir DIR (each also as --opt=VALUE) and --no-build.
# Sets RUNS, TIMEOUT, MARKDOWN, LOGDIR or BUILD=0 and BENCH_SHIFT to the
# number of words used (0: "$1" is not one of them, the caller's own).
bench_opt() {
    local name value
    BENCH_SHIFT=0
    case "$1" in
        --no-build) BUILD=0; BENCH_SHIFT=1; return ;;
        --runs=*|--timeout=*|--markdown=*|--logdir=*) name=${1%%=*}; value=${1#*=}; BENCH_SHIFT=1 ;;
        --runs|--timeout|--markdown|--logdir)
            [ $# -ge 2 ] || { echo "$(basename "$0"): $1 needs a value" >&2; exit 2; }
            name=$1; value=$2; BENCH_SHIFT=2 ;;
        *) return ;;
    esac
    case "$name" in
        --runs) RUNS=$value ;;
        --timeout) TIMEOUT=$value ;;
        --markdown) MARKDOWN=$value ;;
        --logdir) LOGDIR=$value ;;
    esac
}
