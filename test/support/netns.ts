/** Network namespaces the tests create for themselves: the host's interfaces are never touched. */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function createNetns(t: { teardown: (fn: () => void) => void }): string {
  const name = `vmsvc-t-${process.pid}-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  t.teardown(() => execFileSync('ip', ['netns', 'del', name]));
  return name;
}

/** Runs a command inside the namespace; returns stdout, throws with stderr on failure. */
export function inNetns(ns: string, cmd: string, args: readonly string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface IfInfo {
  readonly ifname: string;
  readonly ifindex: number;
  readonly flags: readonly string[];
  readonly master?: string;
  readonly linkinfo?: { readonly info_kind?: string; readonly info_data?: { readonly type?: string; readonly user?: string | number; readonly persist?: boolean } };
}

/** Every interface in the namespace, from `ip -j -d link show`. */
export function interfaces(ns: string): Map<string, IfInfo> {
  const list = JSON.parse(inNetns(ns, 'ip', ['-j', '-d', 'link', 'show'])) as IfInfo[];
  return new Map(list.map((i) => [i.ifname, i]));
}
