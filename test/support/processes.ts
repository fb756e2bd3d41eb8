import * as fs from 'node:fs';

/** Whether a process runs: a zombie (dead, its parent has not reaped it yet) does not. */
export function alive(pid: number): boolean {
  try {
    // The state follows the last ')': the command name before it may hold anything.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * The VMM's pid below a VM service's process: that process is execline's
 * trap (which turns s6's SIGTERM into a power button press), and the VMM
 * its one child. Null while trap has not spawned it.
 */
export function vmmPid(servicePid: number): number | null {
  let children: string;
  try {
    children = fs.readFileSync(`/proc/${servicePid}/task/${servicePid}/children`, 'utf8').trim();
  } catch {
    return null;
  }
  const pids = children === '' ? [] : children.split(/\s+/).map(Number);
  if (pids.length > 1) throw new Error(`trap (pid ${servicePid}) has ${pids.length} children, not the VMM alone: ${pids.join(' ')}`);
  return pids[0] ?? null;
}
