/**
 * What a running VM uses: memory and CPU time, from its cgroup when it has
 * one (memory.current, cpu.stat's usage_usec, pids.current: the kernel's
 * own count of everything in it), else from /proc, summed over the
 * service's process and its descendants (the VMM and what it started).
 * /proc/PID/stat's command name is the process's own to choose (a guest
 * that escaped into its VMM can write anything there), so only the numbers
 * after its last ')' are read.
 */
import * as fs from 'node:fs';
import { readUntrusted } from '../util/untrusted.js';

export interface VmUsage {
  readonly memoryBytes: number | null;
  readonly cpuSeconds: number | null;
  /** Tasks (processes and threads); null where only /proc was read. */
  readonly tasks: number | null;
  /** Where the figures came from. */
  readonly from: 'cgroup' | 'proc';
}

interface ProcEntry {
  readonly ppid: number;
  readonly rssPages: number;
  readonly ticks: number;
}

/** Linux's USER_HZ, the unit of /proc/PID/stat's times on every architecture vmsvc runs on (x86, arm64). */
const TICKS_PER_SECOND = 100;
const PAGE_BYTES = 4096;
/** Far more than any cgroup interface file vmsvc reads. */
const CGROUP_FILE_MAX = 64 * 1024;

/** One reading of /proc for every VM of a command: built once, when a VM needs it. */
export class ProcTable {
  #read: { entries: Map<number, ProcEntry>; children: Map<number, number[]> } | null = null;

  /** The process and its descendants, summed; null when it is gone. */
  usage(pid: number): { memoryBytes: number; cpuSeconds: number } | null {
    const { entries, children } = (this.#read ??= withChildren(readProc()));
    if (!entries.has(pid)) return null;
    let pages = 0;
    let ticks = 0;
    const todo = [pid];
    // /proc is read process by process: a pid reused meanwhile could make the parent links a loop.
    const seen = new Set<number>();
    for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
      const e = entries.get(p);
      if (e === undefined || seen.has(p)) continue;
      seen.add(p);
      pages += e.rssPages;
      ticks += e.ticks;
      todo.push(...(children.get(p) ?? []));
    }
    return { memoryBytes: pages * PAGE_BYTES, cpuSeconds: ticks / TICKS_PER_SECOND };
  }
}

function withChildren(entries: Map<number, ProcEntry>): { entries: Map<number, ProcEntry>; children: Map<number, number[]> } {
  const children = new Map<number, number[]>();
  for (const [p, e] of entries) {
    const list = children.get(e.ppid);
    if (list === undefined) children.set(e.ppid, [p]);
    else list.push(p);
  }
  return { entries, children };
}

function readProc(): Map<number, ProcEntry> {
  const out = new Map<number, ProcEntry>();
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^[1-9][0-9]*$/.test(name)) continue;
    const e = procEntry(name);
    if (e !== null) out.set(Number(name), e);
  }
  return out;
}

/** Fields 4 (ppid), 14 and 15 (utime, stime) and 24 (rss) of /proc/PID/stat (proc(5)), counted after the command name. */
function procEntry(pid: string): ProcEntry | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state).
  const n = (field: number): number => Number(f[field - 3]);
  const e = { ppid: n(4), ticks: n(14) + n(15), rssPages: n(24) };
  return Number.isSafeInteger(e.ppid) && Number.isSafeInteger(e.ticks) && Number.isSafeInteger(e.rssPages) ? e : null;
}

/** One of the cgroup's files, read as the admin commands read anything a manifest names: no link followed, a regular file only, bounded. */
function cgroupFile(dir: string, file: string): string | null {
  const read = readUntrusted(dir, [file], CGROUP_FILE_MAX);
  return read.kind === 'ok' ? read.data.toString('latin1') : null;
}

const count = (text: string | null): number | null => (text !== null && /^[0-9]+\n?$/.test(text) ? Number(text.trim()) : null);

/**
 * The VM's use: from its cgroup where the kernel counts it there, else
 * from /proc (the host has no memory controller there, or the VM no
 * cgroup); null when nothing runs (no pid) and no cgroup holds anything.
 */
export function vmUsage(cgroupDir: string | null, pid: number | null, proc: ProcTable): VmUsage | null {
  if (cgroupDir !== null) {
    const memory = count(cgroupFile(cgroupDir, 'memory.current'));
    const usec = /^usage_usec ([0-9]+)$/m.exec(cgroupFile(cgroupDir, 'cpu.stat') ?? '');
    const tasks = count(cgroupFile(cgroupDir, 'pids.current'));
    if (memory !== null && usec !== null) return { memoryBytes: memory, cpuSeconds: Number(usec[1]) / 1e6, tasks, from: 'cgroup' };
  }
  if (pid === null) return null;
  const u = proc.usage(pid);
  return u === null ? null : { ...u, tasks: null, from: 'proc' };
}
