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

/** A process's one child, null while it has none. */
function onlyChild(pid: number, what: string): number | null {
  let children: string;
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  } catch {
    return null;
  }
  const pids = children === '' ? [] : children.split(/\s+/).map(Number);
  if (pids.length > 1) throw new Error(`${what} (pid ${pid}) has ${pids.length} children, not one: ${pids.join(' ')}`);
  return pids[0] ?? null;
}

function comm(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * The VMM's pid below a VM service's process: that process is execline's
 * trap (which turns s6's SIGTERM into a power button press), and the VMM
 * its one child, or, in the sandbox (--sandbox bwrap), the child of bwrap's
 * child (bwrap, then bwrap as pid 1 of the VMM's pid namespace). Null while
 * it is not started yet.
 */
export function vmmPid(servicePid: number): number | null {
  let pid = onlyChild(servicePid, 'trap');
  while (pid !== null && comm(pid) === 'bwrap') pid = onlyChild(pid, 'bwrap');
  return pid;
}
