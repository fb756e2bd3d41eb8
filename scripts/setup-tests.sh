#!/bin/sh
# Installs everything the test suite needs on a fresh Debian machine (as root):
# Debian's s6, execline and iproute2 (the tests run the generated services and
# link oneshots for real), bubblewrap (each VMM's sandbox), acl (setfacl grants
# a VMM what it opens by path), QEMU with what the
# end-to-end test needs to build its tiny guest (busybox-static, e2fsprogs, the
# decompressors for the kernel's payload), GNU time (the benchmark), python3
# (the isolation test's attacker: a tap is attached by an ioctl), and the npm
# dependencies.
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
PACKAGES="s6 execline iproute2 bubblewrap acl qemu-system-x86 busybox-static e2fsprogs cpio lz4 zstd xz-utils bzip2 gzip time python3-minimal"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
npm ci --no-audit --no-fund
