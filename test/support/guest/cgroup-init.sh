#!/bin/busybox sh
# /init of the cgroup test guest (test/system/cgroup-guest.test.ts): the
# test guest's initramfs with this /init, skarnet's programs, a stub VMM
# and two VMs' service dirs that vmsvc generated appended. It gives the
# VMs' cgroups a parent as a host's boot would, runs the services under
# s6-svscan, and reports on the serial console, every line starting with
# "vmsvc-cg: ", what the kernel did; the stub VMM (vmm-stub.sh) reports
# from inside each VM's cgroup. Powers off when done.

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /var/log
/bin/busybox --install -s
export PATH=/opt/skarnet/bin:/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run

say() { echo "vmsvc-cg: $*"; }

# The host's part: cgroup v2 with memory, pids and cpu given to the parent
# and by it to the VMs' cgroups (doc/resources.md).
mount -t cgroup2 cgroup2 /sys/fs/cgroup || say "cgroup2 mount FAILED"
echo "+memory +pids +cpu" > /sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/vmsvc
echo "+memory +pids +cpu" > /sys/fs/cgroup/vmsvc/cgroup.subtree_control
say "parent controllers $(cat /sys/fs/cgroup/vmsvc/cgroup.subtree_control)"

s6-svscan /scan >/dev/console 2>&1 &

# Wait for the stub in each VM to finish its trials.
i=0
while [ $i -lt 600 ] && ! [ -e /run/hog.done -a -e /run/steady.done ]; do sleep 0.2; i=$((i + 1)); done
say "trials done after $i polls"
for f in /var/log/vm/*/vmm/current; do sed "s|^|vmsvc-cg: vmm log $f: |" $f; done
s6-svstat /scan/vm-hog /scan/vm-steady | sed "s/^/vmsvc-cg: svstat /"

# The cage: a VMM's uid can neither leave its cgroup nor change its limits.
hog=/sys/fs/cgroup/vmsvc/vm-hog
s6-applyuidgid -u 1879048200 -g 1879048200 -G "" sh -c "echo \$\$ > /sys/fs/cgroup/cgroup.procs" 2>/dev/null \
  && say "cage: uid moved itself out" || say "cage: uid move out refused"
s6-applyuidgid -u 1879048200 -g 1879048200 -G "" sh -c "echo max > $hog/memory.max" 2>/dev/null \
  && say "cage: uid raised memory.max" || say "cage: uid memory.max write refused"
# The control: root, whom the files belong to, may.
sh -c "echo \$\$ > /sys/fs/cgroup/cgroup.procs" && say "control: root moved itself"
say "hog memory.max $(cat $hog/memory.max) pids.max $(cat $hog/pids.max) cpu.max $(cat $hog/cpu.max) swap.max $(cat $hog/memory.swap.max)"

# A stop: the finish script kills what the VM left (the daemon that left
# its session) and removes its cgroup.
daemon=$(cat /run/hog.daemon)
kill -0 "$daemon" 2>/dev/null && say "before stop: daemon $daemon runs in $(sed -n 's/^0:://p' /proc/$daemon/cgroup)"
s6-svc -d /scan/vm-hog
s6-svwait -D -t 20000 /scan/vm-hog
i=0
while [ $i -lt 50 ] && [ -d $hog ]; do sleep 0.2; i=$((i + 1)); done
# Killed, it is a zombie of this init (its parent died first) until reaped: gone all the same.
grep -qs '^State:[[:space:]]*[^Z]' /proc/$daemon/status && say "after stop: daemon ALIVE" || say "after stop: daemon gone"
[ -d $hog ] && say "after stop: cgroup KEPT" || say "after stop: cgroup removed"
steady=$(s6-svstat -o pid /scan/vm-steady)
say "steady pid $steady, still $(s6-svstat -o up /scan/vm-steady)"
say "end"
poweroff -f
