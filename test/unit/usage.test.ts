/**
 * admin/usage.ts reads the kernel's own counts from a VM's cgroup
 * (cgroup-v2.rst's formats: memory.current and pids.current one number,
 * cpu.stat key-value lines) and falls back to /proc where a count is
 * missing, as on a host whose cgroup has no memory controller.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ProcTable, vmUsage } from '../../generator/admin/usage.js';

function cgroupDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-usage-'));
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
  return dir;
}

test('from the cgroup: memory.current, usage_usec of cpu.stat and pids.current, as the kernel writes them', (t) => {
  const dir = cgroupDir({ 'memory.current': '1048576\n', 'cpu.stat': 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n', 'pids.current': '7\n' });
  t.teardown(() => fs.rmSync(dir, { recursive: true }));
  t.deepEqual(vmUsage(dir, null, new ProcTable()), { memoryBytes: 1048576, cpuSeconds: 2.5, tasks: 7, from: 'cgroup' });
});

test('a cgroup without memory.current (no memory controller) falls back to /proc: this process and its children, at least its own RSS', (t) => {
  const dir = cgroupDir({ 'cpu.stat': 'usage_usec 1\n' });
  t.teardown(() => fs.rmSync(dir, { recursive: true }));
  const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
  const u = vmUsage(dir, process.pid, new ProcTable());
  t.is(u?.from, 'proc');
  t.true(u!.memoryBytes! >= rss * 0.9 && u!.cpuSeconds! > 0 && u!.tasks === null, JSON.stringify(u));
  // Nothing runs and no cgroup counts: nothing to say.
  t.is(vmUsage(null, null, new ProcTable()), null);
  t.is(vmUsage(dir, 2 ** 22 + 12345, new ProcTable()), null);
});
