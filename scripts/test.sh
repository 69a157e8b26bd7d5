#!/usr/bin/env bash
# The whole test suite, as a newcomer and CI run it:
#   1. installs the Debian packages the tests need (apt-get; sudo if not root),
#   2. fetches and caches the default guest fixture (`fv guest fetch`),
#   3. runs every test in the workspace,
#   4. runs the fuzz targets for a bounded time (scripts/fuzz.sh; seconds per
#      target from FV_FUZZ_SECONDS, default 60; 0 skips them).
# Extra arguments go to `cargo test` (e.g. scripts/test.sh -p fv-riscv).
set -euo pipefail
cd "$(dirname "$0")/.."

# Packages: riscv64 binutils assemble the guest test programs; busybox-static
# builds container root filesystems; cpio and xz-utils let tests cross-check
# archives; iproute2 is used by container networking tests; e2fsprogs
# (mke2fs -d) builds the disk images the virtio-blk guest tests mount;
# qemu-utils (qemu-img) makes and checks the qcow2 images of the block tests;
# nftables (nft) gives bridge containers NAT, which a container test checks;
# debootstrap builds the Debian rootfs a container test runs (cached after the
# first run);
# debian-archive-keyring and ca-certificates let the guest fetch verify the
# archive and reach an https mirror.
PKGS=(build-essential binutils-riscv64-linux-gnu busybox-static cpio xz-utils iproute2 e2fsprogs qemu-utils nftables debootstrap
      podman debian-archive-keyring ca-certificates)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "test.sh: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The default guest (Debian riscv64 kernel + busybox initramfs), cached under
# ${XDG_CACHE_HOME:-~/.cache}/ferrovisor; no network once cached.
cargo run --release -q -p fv-cli -- guest fetch

# cargo prints one "test result" line per test binary (the last ones are
# doc-test binaries with nothing in them); the suite closes with their total.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

# The fuzz targets (fuzz/, a workspace of its own): built and run from the
# committed corpus; a crash or oracle violation fails the suite.
FUZZ_SECONDS=${FV_FUZZ_SECONDS:-60}
fuzz_rc=0
if [ "$FUZZ_SECONDS" = 0 ]; then
    echo "fuzz: skipped (FV_FUZZ_SECONDS=0)"
else
    scripts/fuzz.sh "$FUZZ_SECONDS" || fuzz_rc=$?
    if [ "$fuzz_rc" != 0 ]; then echo "fuzz: FAILED (scripts/fuzz.sh exit $fuzz_rc)"; fi
fi
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
[ "$rc" = 0 ] || exit "$rc"
exit "$fuzz_rc"
