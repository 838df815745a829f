#!/bin/sh
# Test-only first process of the qemu guest (rdinit=/harness.sh). Loads the scenario's
# modules, starts its guest-side services, unmounts what it mounted, then execs the real
# /init (dist/enclave-init) so that it starts as PID 1 on a clean slate. Never in an image.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
say() { echo "harness: $*" > /dev/console; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /e2e/dev
for module in $(cat /e2e/modules); do
  insmod "/e2e/modules.d/$module" || say "insmod $module failed"
done
ip link set lo up
if [ -f /e2e/services.sh ]; then . /e2e/services.sh; fi
# Leave /proc, /sys and /dev to enclave-init (busy files of the services: detach lazily).
# A scenario may set keep_proc=yes: unmounting the nfsd filesystem (under /proc) stops nfsd.
umount -l /e2e/dev
umount -l /sys
[ "${keep_proc:-no}" = yes ] || umount -l /proc
say "exec /init"
exec /init
