// Runs the ava suite and ends with the one line CI reads: "N passed, M failed".
// ava's own summary is not recognised there, so the TAP stream is counted here.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const args = ['ava', '--tap', ...process.argv.slice(2)];
const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'inherit'] });
let passed = 0;
let failed = 0;
let skipped = 0;
// Why each skipped test was skipped: the reason a gated test puts in its title ("[skipped: ...]").
const skipReasons = new Map();
function countSkip(line) {
  skipped++;
  const reason = /\[skipped: (.*?)\]/.exec(line)?.[1] ?? 'no reason given';
  skipReasons.set(reason, (skipReasons.get(reason) ?? 0) + 1);
}
const lines = createInterface({ input: child.stdout });
const linesDone = new Promise((resolve) => lines.once('close', resolve));
lines.on('line', (line) => {
  process.stdout.write(`${line}\n`);
  if (/^not ok \d+/.test(line)) {
    if (/# TODO/.test(line)) countSkip(line);
    else failed++;
  } else if (/^ok \d+/.test(line)) {
    if (/# (SKIP|TODO)/.test(line)) countSkip(line);
    else passed++;
  }
});
const code = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
await linesDone;
if (code !== 0 && failed === 0) failed = 1; // ava failed outside a test (an uncaught error, a timeout)
for (const [reason, n] of skipReasons) console.log(`skipped ${n}: ${reason}`);
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(code);
