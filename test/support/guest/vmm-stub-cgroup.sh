#!/bin/sh
# The stub VMM of the cgroup test guest (cgroup-init.sh): vmsvc's run script
# execs it as the VMM, inside the VM's cgroup. It reports, as lines
# "vmsvc-cg: NAME: ...", what the kernel let it do, then stays up. By its
# cgroup: vm-hog takes more than its memory.max and its pids.max and spins
# under its cpu.max, and starts a daemon in a session of its own (as a
# guest that escaped into its VMM would); vm-steady does what fits.
cg=$(sed -n 's/^0:://p' /proc/self/cgroup)
dir=/sys/fs/cgroup$cg
name=${cg##*/vm-}
say() { echo "vmsvc-cg: $name: $*" >/dev/console; }
say "runs in $cg"
usage() { sed -n 's/^usage_usec //p' $dir/cpu.stat; }
spin() {
  before=$(usage)
  timeout 3 sh -c 'while :; do :; done'
  say "cpu used $(( $(usage) - before )) usec in 3 s, throttled $(sed -n 's/^nr_throttled //p' $dir/cpu.stat) times"
}
case $name in
  hog)
    dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null
    say "dd of 100M exited $?, memory.events oom_kill $(sed -n 's/^oom_kill //p' $dir/memory.events)"
    spin
    sh -c 'i=0; while [ $i -lt 40 ]; do sleep 600 & i=$((i + 1)); done' 2>/dev/null
    say "pids.current $(cat $dir/pids.current) of pids.max $(cat $dir/pids.max), pids.events max $(sed -n 's/^max //p' $dir/pids.events)"
    for p in $(cat $dir/cgroup.procs); do [ "$(cat /proc/$p/comm 2>/dev/null)" = sleep ] && kill $p; done
    sleep 0.5
    setsid sh -c 'echo $$ > /run/hog.daemon; exec sleep 600' &
    sleep 0.5
    ;;
  steady)
    dd if=/dev/zero of=/dev/null bs=40M count=1 2>/dev/null
    say "dd of 40M exited $?"
    spin
    ;;
esac
touch /run/$name.done
exec sleep 100000
