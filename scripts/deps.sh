#!/bin/sh
# deps.sh — install the Debian packages virtnet needs to build, test and run
# its sim, but only those missing. Says what it installs; installs nothing
# when everything is there.
set -eu

PKGS="gcc libc6-dev make pkg-config clang libclang-rt-14-dev
      libdpdk-dev libev-dev libmbedtls-dev libcmocka-dev libjansson-dev
      dpdk-dev iproute2 iputils-ping iperf3 python3
      qemu-system-x86 busybox-static cpio"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "deps: all packages present"
    exit 0
fi

echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: need root to install packages (run 'sudo make deps')" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A new machine may have empty or stale package lists.
apt-get -q update >/dev/null
# shellcheck disable=SC2086
apt-get -q -y --no-install-recommends install $missing
