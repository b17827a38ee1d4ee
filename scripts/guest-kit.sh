#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# guest-kit.sh DIR — a bootable test guest for QEMU in DIR:
#   DIR/vmlinuz     Debian 12's stock kernel (the linux-image-amd64 package)
#   DIR/initrd.gz   a busybox initramfs: the kernel's virtio-net modules and
#                   tests/guest/init, which runs the checks its kernel
#                   command line asks for (see that file)
# The kernel package is fetched with `apt-get download` and unpacked into
# DIR (nothing is installed on this machine); busybox comes from the
# busybox-static package (scripts/deps.sh). A kit already in DIR is reused
# unless tests/guest/init is newer than it.
set -eu

dir=${1:?usage: guest-kit.sh DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
init="$here/tests/guest/init"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# The modules virtio_net needs (Debian builds them as modules); they are
# loaded in the order their "depends=" tags give.
MODS="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
      failover net_failover virtio_net"

if [ -f "$dir/initrd.gz" ] && [ -f "$dir/vmlinuz" ] && \
   [ ! "$init" -nt "$dir/initrd.gz" ]; then
	echo "guest-kit: $dir (cached)"
	exit 0
fi

command -v busybox > /dev/null || { echo "guest-kit: busybox missing (make deps)" >&2; exit 1; }
command -v cpio > /dev/null || { echo "guest-kit: cpio missing (make deps)" >&2; exit 1; }
# The initramfs has no libc: the busybox must be the static one.
if ldd "$(command -v busybox)" > /dev/null 2>&1; then
	echo "guest-kit: $(command -v busybox) is dynamically linked: install busybox-static" >&2
	exit 1
fi

# The kernel package the metapackage points at today.
kpkg() { apt-cache depends linux-image-amd64 2>/dev/null | \
	sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1; }
pkg=$(kpkg)
if [ -z "$pkg" ]; then
	apt-get -q update > /dev/null
	pkg=$(kpkg)
fi
[ -n "$pkg" ] || { echo "guest-kit: no linux-image-amd64 in the package lists" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! ls "$dir"/"$pkg"_*.deb > /dev/null 2>&1; then
	echo "guest-kit: fetching $pkg"
	# apt drops privileges to _apt for downloads; give it a folder it may write.
	chmod 777 "$work"
	if ! (cd "$work" && apt-get -q download "$pkg" > /dev/null 2>&1); then
		# Stale package lists name a version the archive dropped.
		apt-get -q update > /dev/null
		pkg=$(kpkg)
		(cd "$work" && apt-get -q download "$pkg" > /dev/null 2>&1) || \
			{ echo "guest-kit: apt-get download $pkg failed" >&2; exit 1; }
	fi
	mv "$work"/"$pkg"_*.deb "$dir/"
fi
deb=$(ls "$dir"/"$pkg"_*.deb | head -n 1)

mkdir -p "$work/x"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/x" --wildcards \
	'./boot/vmlinuz-*' './lib/modules/*/kernel/drivers/virtio/*' \
	'./lib/modules/*/kernel/drivers/net/virtio_net.ko' \
	'./lib/modules/*/kernel/drivers/net/net_failover.ko' \
	'./lib/modules/*/kernel/net/core/failover.ko'
cp "$work"/x/boot/vmlinuz-* "$dir/vmlinuz"

r="$work/root"
mkdir -p "$r/bin" "$r/lib/modules" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/www"
cp "$(command -v busybox)" "$r/bin/busybox"
for m in $MODS; do
	f=$(find "$work/x/lib/modules" -name "$m.ko" | head -n 1)
	[ -n "$f" ] || { echo "guest-kit: module $m not in $pkg" >&2; exit 1; }
	cp "$f" "$r/lib/modules/"
done
# Load order: a module after every module it depends on.
placed=" "
n=0
while [ $n -lt 20 ]; do
	for m in $MODS; do
		case "$placed" in *" $m "*) continue ;; esac
		deps=$(strings "$r/lib/modules/$m.ko" | sed -n 's/^depends=//p' | tr ',' ' ')
		ready=1
		for d in $deps; do
			case "$placed" in *" $d "*) ;; *) ready=0 ;; esac
		done
		[ $ready -eq 1 ] && placed="$placed$m "
	done
	n=$((n + 1))
done
for m in $MODS; do
	case "$placed" in *" $m "*) ;; *) echo "guest-kit: cannot order $m" >&2; exit 1 ;; esac
done
echo $placed | tr ' ' '\n' > "$r/lib/modules/order"
cp "$init" "$r/init"
chmod 755 "$r/init" "$r/bin/busybox"
(cd "$r" && find . | cpio -o -H newc --quiet) | gzip -1 > "$dir/initrd.gz.new"
mv "$dir/initrd.gz.new" "$dir/initrd.gz"
echo "guest-kit: $dir/vmlinuz and initrd.gz from $pkg"
