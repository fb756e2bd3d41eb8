/**
 * The isolation tests' attacker: one attempt on a target, made with the
 * credentials and in the namespaces the argv prefix gives it, printing "ok"
 * or the kernel's errno name. python3, since a tap is attached by an ioctl.
 */
import { spawnSync } from 'node:child_process';

/**
 * One attempt, by name, printing "ok" or the errno's name. TUNSETIFF is
 * what a VMM does to attach to a tap (linux/if_tun.h: IFF_TAP | IFF_NO_PI);
 * /proc/PID/environ needs PTRACE_MODE_READ, the check ptrace's attach makes.
 */
const ATTACKER = `
import errno, fcntl, os, socket, struct, sys
action, target = sys.argv[1], sys.argv[2]
try:
    if action == 'tap':
        fd = os.open('/dev/net/tun', os.O_RDWR)
        fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', target.encode(), 0x0002 | 0x1000))
    elif action == 'connect':
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(target)
    elif action == 'signal':
        os.kill(int(target), 0)
    elif action == 'trace':
        open('/proc/%s/environ' % target, 'rb').read()
    elif action == 'read':
        open(target, 'rb').read(1)
    elif action == 'write':
        os.close(os.open(target, os.O_WRONLY | os.O_APPEND))
    elif action == 'list':
        # What else runs there: the attacker itself is left out.
        print(' '.join(sorted((n for n in os.listdir(target) if n.isdigit() and int(n) != os.getpid()), key=int)))
        sys.exit(0)
    elif action == 'create':
        p = os.path.join(target, '.attack')
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600))
        os.unlink(p)
    print('ok')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
`;

/** Runs the attempt `action` on `target` behind `prefix` (nsenter, s6-applyuidgid ...): "ok" or the errno's name. */
export function attack(prefix: readonly string[], action: string, target: string): string {
  const [program, ...args] = [...prefix, '/usr/bin/python3', '-c', ATTACKER, action, target];
  const r = spawnSync(program!, args, { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`attacker ${action} ${target}: exit ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}
