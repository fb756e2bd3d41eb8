/**
 * Debian's udev makes /dev/net/tun 0666, so that a VMM running as any uid
 * may open it and attach to the taps it owns. A machine whose node is 0600
 * (a container's) gets, for one supervision tree alone, a 0666 node of the
 * same device bound over it in a private mount namespace: the host's node
 * is not touched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';

const TUN = '/dev/net/tun';

/** argv, run so that it sees a /dev/net/tun anyone may open; `privateMounts`: argv already runs in a mount namespace of its own (ip netns exec). */
export function withOpenTun(root: string, argv: readonly string[], privateMounts: boolean): string[] {
  const st = fs.statSync(TUN);
  if ((st.mode & 0o666) === 0o666) return [...argv];
  const node = path.join(root, 'tun');
  if (!fs.existsSync(node)) {
    execFileSync('mknod', ['-m', '0666', node, 'c', String(Math.floor(st.rdev / 256) & 0xfff), String(st.rdev & 0xff)]);
  }
  const bind = ['sh', '-c', `mount --bind "$0" ${TUN} && exec "$@"`, node, ...argv];
  return privateMounts ? bind : ['unshare', '-m', '--propagation', 'private', ...bind];
}
