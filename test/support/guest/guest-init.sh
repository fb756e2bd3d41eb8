#!/bin/busybox sh
# /init of the vmsvc test guest (initramfs built by test/support/guest/guest.ts).
#
# Everything it reports goes to the serial console (/dev/console, ttyS0) as
# lines starting with "vmsvc-guest: ", so that a test can wait for them:
#   vmsvc-guest: booted NAME
#   vmsvc-guest: configured IF MAC ADDR [peer CLIENT] (also for a NIC hot-plugged later)
#   vmsvc-guest: disk DEV marker TEXT          (ext2 images from makeExt2Disk)
#   vmsvc-guest: disk DEV write OK|FAILED      (vmsvc.write=1)
#   vmsvc-guest: ping OK ADDR | ping FAIL ADDR (repeated forever)
#   vmsvc-guest: power button: clean shutdown  (synced; powers off next)
#   vmsvc-guest: ignoring the power button     (vmsvc.ignore-powerbutton=1)
# An interactive shell runs on the virtio console /dev/hvc0 (respawned when it
# exits). The guest powers off only when its ACPI power button is pressed.
#
# Kernel command line parameters (all optional):
#   vmsvc.name=NAME       hostname, and the name in the "booted" line (default: guest)
#   vmsvc.ping=A[,B...]   extra addresses to ping
#   vmsvc.interval=SEC    pause between ping rounds (default: 2)
#   vmsvc.ignore-powerbutton=1  do not power off on the power button (a hung guest)
#   vmsvc.write=1         write "written by NAME" to /vmsvc-written on every
#                         disk (mounted read-write; a read-only disk fails)
#   vmsvc.ready=1         once booted, write READY=1 to the virtio-serial port
#                         org.vmsvc.ready (vmsvc's guest readiness); logs
#                         "vmsvc-guest: sent READY=1" or "... READY=1 FAILED"
#
# Networking follows the Spectrum guide: an interface whose MAC has the OUI
# 0a:b3:ec is a client interface when octet 4 is 00 (address 100.64.HH.LL/32
# from octets 5 and 6, default route via 169.254.0.1) and a provider (router)
# interface when octet 4 is 80 (169.254.0.1/32 plus a /32 route to the client
# address from octets 5 and 6). A client pings 169.254.0.1; a provider pings
# each client address.

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run /mnt
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mkdir -p /root

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run

say() { echo "vmsvc-guest: $*"; }

name=guest
interval=2
ignore_powerbutton=
extra=
ready=
write=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    vmsvc.name=*) name=${arg#vmsvc.name=} ;;
    vmsvc.ping=*) extra="$extra $(echo "${arg#vmsvc.ping=}" | tr , ' ')" ;;
    vmsvc.interval=*) interval=${arg#vmsvc.interval=} ;;
    vmsvc.ignore-powerbutton=1) ignore_powerbutton=1 ;;
    vmsvc.ready=1) ready=1 ;;
    vmsvc.write=1) write=1 ;;
  esac
done
hostname "$name"

# Modules in dependency order, one name per line (written by guest.ts).
if [ -f /etc/vmsvc-modules ]; then
  while read -r mod; do
    [ -n "$mod" ] || continue
    insmod "/lib/modules/$mod.ko" || say "insmod FAILED $mod"
  done </etc/vmsvc-modules
fi

say "booted $name"

ip link set lo up

# Network interfaces are probed during insmod, but give them a moment.
tries=0
while [ $tries -lt 20 ]; do
  found=
  for dev in /sys/class/net/*; do
    case "$(cat "$dev/address" 2>/dev/null)" in 0a:b3:ec:*) found=1 ;; esac
  done
  [ -n "$found" ] && break
  tries=$((tries + 1))
  sleep 0.1 2>/dev/null || sleep 1
done

# Configures each 0a:b3:ec interface not configured yet, and says so; links
# hot-plugged into a running provider appear later, so the ping loop below
# calls it again every round. Prints each interface's ping target.
configure() {
  for dev in /sys/class/net/*; do
    ifname=${dev##*/}
    mac=$(cat "$dev/address" 2>/dev/null)
    case "$mac" in 0a:b3:ec:*) ;; *) continue ;; esac
    oldifs=$IFS
    IFS=:
    set -- $mac
    IFS=$oldifs
    client="100.64.$((0x$5)).$((0x$6))"
    if [ ! -e "/run/configured-$ifname" ]; then
      : >"/run/configured-$ifname"
      ip link set "$ifname" up
      case "$4" in
        00)
          ip addr add "$client/32" dev "$ifname"
          ip route add 169.254.0.1 dev "$ifname"
          ip route add default via 169.254.0.1 dev "$ifname"
          say "configured $ifname $mac $client" >&2
          ;;
        80)
          ip addr add 169.254.0.1/32 dev "$ifname" 2>/dev/null
          ip route add "$client/32" dev "$ifname"
          say "configured $ifname $mac 169.254.0.1 peer $client" >&2
          ;;
        *)
          say "ignored $ifname $mac" >&2
          ;;
      esac
    fi
    case "$4" in
      00) echo 169.254.0.1 ;;
      80) echo "$client" ;;
    esac
  done
}
configure >/dev/null

# Block devices: report the marker file of ext2 images made by makeExt2Disk.
for blk in /sys/block/vd*; do
  [ -e "$blk" ] || continue
  disk=${blk##*/}
  mkdir -p "/mnt/$disk"
  if mount -t ext2 -o ro "/dev/$disk" "/mnt/$disk" 2>/dev/null; then
    say "disk $disk marker $(cat "/mnt/$disk/vmsvc-disk" 2>/dev/null)"
    umount "/mnt/$disk"
  else
    say "disk $disk unmountable"
  fi
done

# With vmsvc.write=1, a write on each disk, synced, so the host can read it back.
if [ -n "$write" ]; then
  for blk in /sys/block/vd*; do
    [ -e "$blk" ] || continue
    disk=${blk##*/}
    if mount -t ext2 -o rw "/dev/$disk" "/mnt/$disk" 2>/dev/null \
      && echo "written by $name" >"/mnt/$disk/vmsvc-written" 2>/dev/null && sync; then
      say "disk $disk write OK"
    else
      say "disk $disk write FAILED"
    fi
    umount "/mnt/$disk" 2>/dev/null
  done
fi

# The ACPI power button (button.ko's input device, read through evdev): on its
# first event, sync, say so on the serial console, and power off; QEMU then
# exits. Found by name, since the event number depends on probe order.
(
  dev=
  for ev in /sys/class/input/event*; do
    [ "$(cat "$ev/device/name" 2>/dev/null)" = "Power Button" ] && dev=/dev/input/${ev##*/}
  done
  if [ -z "$dev" ]; then say "no power button"; exit 0; fi
  if [ -n "$ignore_powerbutton" ]; then say "ignoring the power button"; exit 0; fi
  say "power button at $dev"
  # One struct input_event is 24 bytes on x86-64: the first press.
  dd if="$dev" of=/dev/null bs=24 count=1 2>/dev/null
  sync
  say "power button: clean shutdown"
  # Let the UART send the line before the power goes.
  sleep 1
  poweroff -f
) &

# A shell on the virtio console, respawned whenever it exits.
(
  tries=0
  while [ ! -c /dev/hvc0 ] && [ $tries -lt 100 ]; do
    sleep 0.2 2>/dev/null || sleep 1
    tries=$((tries + 1))
  done
  [ -c /dev/hvc0 ] || exit 0
  while :; do
    PS1="$name# " setsid -c sh -i </dev/hvc0 >/dev/hvc0 2>&1
    sleep 1
  done
) &

# Guest readiness: one write of READY=1 on the named port (udev is absent,
# so the port is found by its name in sysfs).
if [ -n "$ready" ]; then
  port=
  tries=0
  while [ -z "$port" ] && [ $tries -lt 100 ]; do
    for p in /sys/class/virtio-ports/*; do
      [ "$(cat "$p/name" 2>/dev/null)" = org.vmsvc.ready ] && port=/dev/${p##*/}
    done
    [ -n "$port" ] || { sleep 0.2 2>/dev/null || sleep 1; }
    tries=$((tries + 1))
  done
  if [ -n "$port" ] && printf 'READY=1\n' >"$port"; then
    say "sent READY=1"
  else
    say "READY=1 FAILED"
  fi
fi

# Ping every peer of the interfaces there are now, forever.
targets="$(configure) $extra"
set -- $targets
if [ $# -eq 0 ]; then
  say "no ping targets"
fi
while :; do
  for addr in $(configure) $extra; do
    if ping -c 1 -W 1 "$addr" >/dev/null 2>&1; then
      say "ping OK $addr"
    else
      say "ping FAIL $addr"
    fi
  done
  sleep "$interval"
done
