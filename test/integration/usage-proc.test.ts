/**
 * `ls` and `show` read what a VM without a cgroup uses from /proc/PID/stat,
 * whose command name (field 2) is the process's own to set: a VMM can write
 * any 15 bytes there, ')' , spaces, digits and newlines too. Only the
 * numbers after the last ')' may be read, so a name that looks like the
 * rest of the line cannot move a child out of the VM's tree, or another
 * process into it.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { ProcTable } from '../../generator/admin/usage.js';
import { waitFor } from '../support/wait.js';

/** A shell (the service's process) whose child names itself `name` and stays; returns both pids. */
async function withNamedChild(name: string): Promise<{ parent: number; child: number; stop: () => void }> {
  const parent = spawn('/bin/sh', ['-c', `sh -c 'printf "%s" "$1" > /proc/self/comm; echo $$; while :; do sleep 1; done' sh "$1"`, 'sh', name], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  parent.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  await waitFor('the child to name itself', () => /^[0-9]+\n/.test(out), 10_000, 20);
  const child = Number(out.trim());
  return { parent: parent.pid!, child, stop: () => { try { process.kill(child, 'SIGKILL'); } catch { /* gone */ } parent.kill('SIGKILL'); } };
}

test('a command name that forges the rest of /proc/PID/stat (")", a ppid, numbers, a newline) neither moves the process out of its service\'s tree nor into another\'s', async (t) => {
  // After the real ') S <ppid> ...' the kernel writes, the forged part would put it under pid 1 with huge times if read from the first ')'.
  const forged = await withNamedChild(') R 1 1 1\n9 9');
  t.teardown(forged.stop);
  t.is(fs.readFileSync(`/proc/${forged.child}/comm`, 'latin1'), ') R 1 1 1\n9 9\n', 'the kernel kept the forged name');
  const table = new ProcTable();
  const own = table.usage(forged.child);
  t.truthy(own, 'the forging process itself is read');
  t.true(own!.cpuSeconds < 1000 && own!.memoryBytes < 1024 ** 3, `its own figures are its own: ${JSON.stringify(own)}`);
  const tree = table.usage(forged.parent);
  t.true(tree !== null && tree.memoryBytes > own!.memoryBytes, 'it is counted in its parent\'s tree, where it is');
});
