/**
 * A stand-in for cloud-hypervisor, QEMU or crosvm: records its argv, stdin and start time in
 * the VM's runtime dir, writes serial lines to stdout and its own messages to
 * stderr, creates the API socket and stays up, like the real VMM.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const STUB = `
const fs = require('node:fs');
const net = require('node:net');
const args = process.argv.slice(2);
const after = (flag) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : null);
// The readiness socket, as each VMM is told it: cloud-hypervisor, QEMU, crosvm.
const sock = after('--api-socket')?.replace(/^path=/, '') ?? after('-qmp')?.replace(/^unix:/, '').split(',')[0] ?? after('--socket');
// QEMU's virtio-console socket: answers every line with "console: <line>".
const chardev = after('-chardev');
if (chardev !== null) {
  const consolePath = /path=([^,]*)/.exec(chardev)[1];
  net.createServer((c) => c.on('data', (d) => c.write('console: ' + d))).listen(consolePath);
}
const dir = require('node:path').dirname(sock);
fs.writeFileSync(dir + '/argv', Buffer.from(args.map((a) => a + '\\0').join(''), 'utf8'));
fs.writeFileSync(dir + '/stdin', fs.readlinkSync('/proc/self/fd/0'));
fs.appendFileSync(dir + '/starts', Date.now() + '\\n');
process.stderr.write('stub-vmm: NOT-SERIAL message on stderr\\n');
process.stdout.write('serial: Linux version 6.1.0-stub\\nserial: booted ' + sock + '\\n');
let n = 0;
const tick = setInterval(() => process.stdout.write('serial: tick ' + ++n + '\\n'), 200);
setTimeout(() => {
  net.createServer().listen(sock, () => fs.appendFileSync(dir + '/ready-at', Date.now() + '\\n'));
}, Number(process.env.STUB_READY_DELAY_MS || 100));
process.on('SIGTERM', () => { clearInterval(tick); process.exit(0); });
`;

/** Writes the stub as an executable named `name` in `binDir` (put binDir first in PATH). */
export function installStubVmm(binDir: string, name = 'cloud-hypervisor'): string {
  fs.mkdirSync(binDir, { recursive: true });
  const file = path.join(binDir, name);
  fs.writeFileSync(file, `#!${process.execPath}\n${STUB}`, { mode: 0o755 });
  return file;
}

/** The argv the stub recorded for the VM whose runtime dir is `runtimeDir`. */
export function recordedArgv(runtimeDir: string): string[] {
  const raw = fs.readFileSync(path.join(runtimeDir, 'argv'), 'utf8');
  return raw.split('\0').slice(0, -1);
}
