#!/bin/sh
# Installs everything the test suite needs on a fresh Debian machine (as root):
# Debian's s6, execline and iproute2 (the tests run the generated services and
# link oneshots for real), GNU time (the benchmark), and the npm dependencies.
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if ! command -v s6-svscan >/dev/null || ! command -v execlineb >/dev/null || ! command -v ip >/dev/null || [ ! -x /usr/bin/time ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends s6 execline iproute2 time >/dev/null
fi
npm ci --no-audit --no-fund
