// Runs the ava suite and ends with the one line CI reads: "N passed, M failed".
// ava's own summary is not recognised there, so the TAP stream is counted here.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const args = ['ava', '--tap', ...process.argv.slice(2)];
const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'inherit'] });
let passed = 0;
let failed = 0;
let skipped = 0;
const lines = createInterface({ input: child.stdout });
const linesDone = new Promise((resolve) => lines.once('close', resolve));
lines.on('line', (line) => {
  process.stdout.write(`${line}\n`);
  if (/^not ok \d+/.test(line)) {
    if (/# TODO/.test(line)) skipped++;
    else failed++;
  } else if (/^ok \d+/.test(line)) {
    if (/# (SKIP|TODO)/.test(line)) skipped++;
    else passed++;
  }
});
const code = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
await linesDone;
if (code !== 0 && failed === 0) failed = 1; // ava failed outside a test (an uncaught error, a timeout)
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(code);
