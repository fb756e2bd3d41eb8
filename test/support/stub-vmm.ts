/**
 * A stand-in for cloud-hypervisor, QEMU or crosvm: records its argv, stdin and start time in
 * the VM's runtime dir, writes serial lines to stdout and its own messages to
 * stderr, creates the API socket and stays up, like the real VMM. On that
 * socket it answers the readiness request in the VMM's own format (see
 * STUB_VM_STATE below), and a stand-in ch-remote and `crosvm resume` ask it.
 *
 * Environment: STUB_VM_STATE=running (default) | paused: what the VMM says
 * the VM is; silent: accepts connections and never answers (a VMM whose
 * run loop has not started). STUB_EXIT_AT_ONCE=CODE: exit with CODE before
 * binding anything (a VMM that fails at once). The power button (QMP
 * system_powerdown, ch-remote power-button, crosvm powerbtn) is answered and
 * writes "serial: power button pressed"; the stub then exits 0 after
 * STUB_POWEROFF_MS (default 100), as a guest that powers off, unless
 * STUB_IGNORE_POWER_BUTTON is set or ignore-power-button exists in the VM's
 * runtime dir (a hung guest). While hung exists there it answers nothing on
 * its control socket and ignores SIGINT (a VMM whose main loop is stuck).
 * While refuse-net exists there, each attach of a hot-plugged link whose
 * tap it names (one per line; empty: every tap) fails as the real VMM's
 * fails to open a tap that is gone or another uid's (a lying VMM too).
 * These are in its own runtime dir, the one dir of the host's it sees in its
 * sandbox. Its pid, as its own pid namespace numbers it, is in the VM's
 * runtime dir, file pid (stubVmmPid gives the host's). With STUB_LOOK (paths
 * separated by :), it writes what it sees of each to file sees, as JSON:
 * readable, exists or absent. Told to exit
 * (QMP quit, ch-remote shutdown-vmm, crosvm stop), it appends to file quit
 * there and exits 0.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const STUB = `
const fs = require('node:fs');
const net = require('node:net');
const args = process.argv.slice(2);
const state = process.env.STUB_VM_STATE || 'running';
// crosvm's own client, \`crosvm resume SOCKET\`: exits 0 once the VMM answers
// (src/main.rs:212 resume_vms -> vm_control/src/client.rs:60 vms_request at f1e797a6).
// \`crosvm powerbtn SOCKET\` and \`crosvm stop SOCKET\` likewise (src/main.rs:220, :179).
if (args[0] === 'resume' || args[0] === 'powerbtn' || args[0] === 'stop') {
  const c = net.connect(args[1]);
  const fail = () => process.exit(1);
  c.on('error', fail);
  c.on('connect', () => c.write(args[0]));
  c.on('data', (d) => process.exit(String(d) === 'ok' ? 0 : 1));
  c.on('end', fail);
  return;
}
if (process.env.STUB_EXIT_AT_ONCE) {
  process.stderr.write('stub-vmm: exiting at once\\n');
  process.exit(Number(process.env.STUB_EXIT_AT_ONCE));
}
const after = (flag) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : null);
// The readiness socket, as each VMM is told it: cloud-hypervisor, QEMU, crosvm.
// QEMU's chardevs by id: its QMP socket and its virtio-console's.
const chardevs = new Map(args.flatMap((a, i) => (args[i - 1] === '-chardev' ? [[/id=([^,]*)/.exec(a)[1], /path=([^,]*)/.exec(a)?.[1] ?? null]] : [])));
const qemu = chardevs.has('qmp');
const sock = after('--api-socket')?.replace(/^path=/, '') ?? chardevs.get('qmp') ?? after('--socket');
// QEMU's virtio-console socket: answers every line with "console: <line>".
const consolePath = chardevs.get('console') ?? null;
if (consolePath !== null) {
  net.createServer((c) => c.on('data', (d) => c.write('console: ' + d))).listen(consolePath);
}
const dir = require('node:path').dirname(sock);
fs.writeFileSync(dir + '/argv', Buffer.from(args.map((a) => a + '\\0').join(''), 'utf8'));
fs.writeFileSync(dir + '/stdin', fs.readlinkSync('/proc/self/fd/0'));
// The files it inherited (descriptors root opened for it), before it opens
// any of its own: number, file, access mode (fdinfo flags & O_ACCMODE).
fs.writeFileSync(dir + '/fds', fs.readdirSync('/proc/self/fd').map(Number).filter((n) => n > 2).flatMap((n) => {
  let target;
  try { target = fs.readlinkSync('/proc/self/fd/' + n); } catch { return []; }
  if (!target.startsWith('/') || target.startsWith('/proc/') || target.startsWith('/dev/')) return [];
  const flags = parseInt(/flags:\\s*([0-7]+)/.exec(fs.readFileSync('/proc/self/fdinfo/' + n, 'utf8'))[1], 8);
  return [n + ' ' + target + ' ' + ['r', 'w', 'u'][flags & 3] + '\\n'];
}).join(''));
fs.appendFileSync(dir + '/starts', Date.now() + '\\n');
fs.writeFileSync(dir + '/pid', String(process.pid));
if (process.env.STUB_LOOK) {
  const see = (p) => {
    try {
      fs.accessSync(p, fs.constants.R_OK);
      return 'readable';
    } catch (e) {
      return e.code === 'ENOENT' ? 'absent' : 'exists';
    }
  };
  fs.writeFileSync(dir + '/sees', JSON.stringify(Object.fromEntries(process.env.STUB_LOOK.split(':').map((p) => [p, see(p)]))));
}
process.stderr.write('stub-vmm: NOT-SERIAL message on stderr\\n');
process.stdout.write('serial: Linux version 6.1.0-stub\\nserial: booted ' + sock + '\\n');
let n = 0;
// Hot-plugged NICs by device id, and QEMU's netdevs by id (their tap).
const nics = new Map();
const netdevs = new Map();
const saveNics = () => fs.writeFileSync(dir + '/nics', JSON.stringify(Object.fromEntries(nics)));
// refuse-net: the taps whose attach fails (see above).
const refused = (tap) => {
  let names;
  try { names = fs.readFileSync(dir + '/refuse-net', 'utf8').split('\\n').filter((x) => x !== ''); } catch { return false; }
  return names.length === 0 || names.includes(tap);
};
saveNics();
// QMP's hot-plug commands, answered as QEMU 7.2 answers them (observed; see vmm/qemu.ts).
function qmpHotplug(cmd, a) {
  const err = (desc, cls = 'GenericError') => ({ error: { class: cls, desc } });
  if (cmd === 'netdev_add') {
    if (netdevs.has(a.id)) return err("Duplicate ID '" + a.id + "' for netdev");
    if (refused(a.ifname)) return err('could not configure /dev/net/tun (' + a.ifname + '): Operation not permitted');
    netdevs.set(a.id, a.ifname);
    return { return: {} };
  }
  if (cmd === 'device_add') {
    if (nics.has(a.id)) return err("Duplicate device ID '" + a.id + "'");
    if ([...nics.values()].some((x) => x.bus === a.bus)) return err('PCI: slot 0 function 0 not available for virtio-net-pci');
    if (!netdevs.has(a.netdev)) return err("Property 'virtio-net-device.netdev' can't find value '" + a.netdev + "'");
    nics.set(a.id, { tap: netdevs.get(a.netdev), mac: a.mac, bus: a.bus, netdev: a.netdev });
    saveNics();
    return { return: {} };
  }
  if (cmd === 'qom-get') {
    const id = a.path.replace('/machine/peripheral/', '');
    return nics.has(id) ? { return: nics.get(id).netdev } : err("Device '" + a.path + "' not found", 'DeviceNotFound');
  }
  if (cmd === 'device_del') {
    if (!nics.delete(a.id)) return err("Device '" + a.id + "' not found", 'DeviceNotFound');
    saveNics();
    return { return: {} };
  }
  if (cmd === 'netdev_del') return netdevs.delete(a.id) ? { return: {} } : err("Device '" + a.id + "' not found", 'DeviceNotFound');
  return null;
}
// The VMM told to exit now (QMP quit, ch-remote shutdown-vmm, crosvm stop).
function quit() {
  fs.appendFileSync(dir + '/quit', Date.now() + '\\n');
  setTimeout(() => process.exit(0), 10);
}
function powerButton() {
  process.stdout.write('serial: power button pressed\\n');
  if (process.env.STUB_IGNORE_POWER_BUTTON || fs.existsSync(dir + '/ignore-power-button')) return;
  setTimeout(() => {
    process.stdout.write('serial: clean shutdown\\n');
    fs.appendFileSync(dir + '/powered-off', Date.now() + '\\n');
    process.exit(0);
  }, Number(process.env.STUB_POWEROFF_MS || 100));
}
const tick = setInterval(() => process.stdout.write('serial: tick ' + ++n + '\\n'), 200);
// The readiness request, answered as each VMM answers it.
function serve(c) {
  if (state === 'silent' || fs.existsSync(dir + '/hung')) return;
  if (qemu) {
    // QEMU 7.2: greeting on connect, one reply line per command, close on EOF.
    c.write('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\\r\\n');
    let buf = '';
    c.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\\n')) >= 0) {
        const req = JSON.parse(buf.slice(0, i));
        const cmd = req.execute;
        buf = buf.slice(i + 1);
        if (cmd === 'quit') {
          c.write('{"return": {}, "id": ' + JSON.stringify(req.id) + '}\\r\\n');
          quit();
        } else if (cmd === 'system_powerdown') {
          c.write('{"return": {}, "id": ' + JSON.stringify(req.id) + '}\\r\\n');
          powerButton();
        } else if (cmd === 'query-status') c.write('{"return": {"status": "' + state + '", "singlestep": false, "running": ' + (state === 'running') + '}}\\r\\n');
        else {
          // QEMU's JSON: ", " and ": " between items.
          const hot = qmpHotplug(cmd, req.arguments || {});
          // QEMU gives a command's id back in its reply.
          const reply = { ...(hot ?? { return: {} }), ...(req.id === undefined ? {} : { id: req.id }) };
          c.write(JSON.stringify(reply).replace(/":/g, '": ').replace(/,"/g, ', "') + '\\r\\n');
        }
      }
    });
    c.on('end', () => c.end());
  } else if (args.includes('--api-socket')) {
    // cloud-hypervisor v53.0: GET /api/v1/vm.info -> 200 with compact
    // VmInfoResponse JSON (vmm/src/api/http/http_endpoint.rs:629, vmm/src/api/mod.rs:223).
    let buf = '';
    c.on('data', (d) => {
      buf += d;
      if (!buf.includes('\\r\\n\\r\\n')) return;
      const length = Number(/Content-Length: (\\d+)/i.exec(buf)?.[1] ?? 0);
      const body = buf.slice(buf.indexOf('\\r\\n\\r\\n') + 4);
      if (Buffer.byteLength(body) < length) return;
      // vm.add-net: 200 with PciDeviceInfo, or 500 with the error chain (vmm/src/api/http/mod.rs:103-118 at v53.0).
      if (buf.startsWith('PUT /api/v1/vm.add-net ')) {
        const net = JSON.parse(body);
        if (nics.has(net.id)) return c.end('HTTP/1.1 500 \\r\\n\\r\\n["Error from API","Identifier ' + net.id + ' is not unique"]');
        if (refused(net.tap)) return c.end('HTTP/1.1 500 \\r\\n\\r\\n["Error from API","Failed to open tap device ' + net.tap + '"]');
        nics.set(net.id, { tap: net.tap, mac: net.mac });
        saveNics();
        const info = JSON.stringify({ id: net.id, bdf: '0000:00:06.0' });
        return c.end('HTTP/1.1 200 \\r\\nContent-Length: ' + info.length + '\\r\\n\\r\\n' + info);
      }
      if (buf.startsWith('PUT /api/v1/vm.remove-device ')) {
        const id = JSON.parse(body).id;
        if (!nics.delete(id)) return c.end('HTTP/1.1 500 \\r\\n\\r\\n["Failed to find device corresponding to the given identifier: ' + id + '"]');
        saveNics();
        return c.end('HTTP/1.1 204 \\r\\n\\r\\n');
      }
      if (buf.startsWith('PUT /api/v1/vmm.shutdown ')) {
        c.end('HTTP/1.1 204 \\r\\n\\r\\n');
        quit();
        return;
      }
      if (buf.startsWith('PUT /api/v1/vm.power-button ')) {
        c.end('HTTP/1.1 204 \\r\\n\\r\\n');
        powerButton();
        return;
      }
      const net = [...nics].map(([id, x]) => ({ id, tap: x.tap, mac: x.mac }));
      const reply = JSON.stringify({ config: { cpus: { boot_vcpus: 1 }, net }, state: state[0].toUpperCase() + state.slice(1), memory_actual_size: 268435456 });
      c.end('HTTP/1.1 200 \\r\\nContent-Type: application/json\\r\\nContent-Length: ' + Buffer.byteLength(reply) + '\\r\\n\\r\\n' + reply);
    });
  } else {
    // crosvm: answers a request once its run loop runs.
    c.on('data', (d) => {
      if (String(d) === 'stop') {
        c.end('ok');
        quit();
        return;
      }
      if (String(d) === 'powerbtn') {
        c.end('ok');
        powerButton();
        return;
      }
      c.end(state === 'running' ? 'ok' : 'paused');
    });
  }
  c.on('error', () => {});
}
setTimeout(() => {
  net.createServer(serve).listen(sock, () => fs.appendFileSync(dir + '/ready-at', Date.now() + '\\n'));
}, Number(process.env.STUB_READY_DELAY_MS || 100));
process.on('SIGTERM', () => { clearInterval(tick); process.exit(0); });
// A hung VMM (hung in its runtime dir) also ignores SIGINT; else SIGINT kills it as by default.
process.on('SIGINT', () => {
  if (fs.existsSync(dir + '/hung')) return process.stdout.write('serial: hung: SIGINT ignored\\n');
  process.removeAllListeners('SIGINT');
  process.kill(process.pid, 'SIGINT');
});
`;

/**
 * cloud-hypervisor v53.0's ch-remote --api-socket S info: one HTTP request on
 * the API socket, the body printed with a newline, non-zero on a server error
 * or no connection (cloud-hypervisor/src/bin/ch-remote.rs:309,
 * api_client/src/lib.rs:94 parse_http_response and :194 println).
 */
const CH_REMOTE = `
const net = require('node:net');
const args = process.argv.slice(2);
const sock = args[args.indexOf('--api-socket') + 1];
const command = args[2];
// power-button: PUT /api/v1/vm.power-button (ch-remote.rs:300-301 at v53.0).
// add-net CONFIG: NetConfig::parse's key=value list sent as JSON (ch-remote.rs:445-455, :898-909);
// remove-device ID: {"id": ID} (ch-remote.rs:385-395, :863-867).
const request = { info: 'GET /api/v1/vm.info', 'power-button': 'PUT /api/v1/vm.power-button', 'shutdown-vmm': 'PUT /api/v1/vmm.shutdown', 'add-net': 'PUT /api/v1/vm.add-net', 'remove-device': 'PUT /api/v1/vm.remove-device' }[command];
if (request === undefined) process.exit(2);
const body = command === 'add-net' ? JSON.stringify(Object.fromEntries(args[3].split(',').map((kv) => kv.split('='))))
  : command === 'remove-device' ? JSON.stringify({ id: args[3] }) : '';
const c = net.connect(sock);
let res = '';
c.on('error', (e) => { process.stderr.write('Error: ' + e.message + '\\n'); process.exit(1); });
c.on('connect', () => c.write(request + ' HTTP/1.1\\r\\nContent-Length: ' + Buffer.byteLength(body) + '\\r\\n\\r\\n' + body));
c.on('data', (d) => { res += d; });
c.on('end', () => {
  const status = Number(res.split(' ')[1]);
  const reply = res.slice(res.indexOf('\\r\\n\\r\\n') + 4);
  if (!(status >= 200 && status < 500)) { process.stderr.write('Error: ' + reply + '\\n'); process.exit(1); }
  if (status !== 204) process.stdout.write(reply + '\\n');
  process.exit(0);
});
`;

/**
 * Writes the stub as an executable named `name` in `binDir` (put binDir first
 * in PATH), and beside it a stand-in ch-remote that asks it.
 */
export function installStubVmm(binDir: string, name = 'cloud-hypervisor'): string {
  fs.mkdirSync(binDir, { recursive: true });
  const file = path.join(binDir, name);
  fs.writeFileSync(file, `#!${process.execPath}\n${STUB}`, { mode: 0o755 });
  fs.writeFileSync(path.join(binDir, 'ch-remote'), `#!${process.execPath}\n${CH_REMOTE}`, { mode: 0o755 });
  return file;
}

/** The argv the stub recorded for the VM whose runtime dir is `runtimeDir`. */
/** The files the stub VMM inherited as descriptors: "N FILE MODE" (r: read-only, u: read-write), by number. */
export function recordedFds(runtimeDir: string): string[] {
  return fs.readFileSync(path.join(runtimeDir, 'fds'), 'utf8').split('\n').filter((l) => l !== '');
}

export function recordedArgv(runtimeDir: string): string[] {
  const raw = fs.readFileSync(path.join(runtimeDir, 'argv'), 'utf8');
  return raw.split('\0').slice(0, -1);
}

/**
 * The host's pid of the stub VMM of the VM whose runtime dir is
 * `runtimeDir`: the stub writes its pid as its own pid namespace numbers it
 * (2 in the sandbox, below bwrap), so the host's is the process whose last
 * NSpid is that and whose argv names the runtime dir (bwrap's name it too,
 * as 1 and with the host's pid alone). Null when none runs.
 */
export function stubVmmPid(runtimeDir: string): number | null {
  let recorded: string;
  try {
    recorded = fs.readFileSync(path.join(runtimeDir, 'pid'), 'utf8').trim();
  } catch {
    return null;
  }
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const nspid = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.split(/\s+/) ?? [];
      if (nspid.at(-1) !== recorded) continue;
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a.includes(`${runtimeDir}/`))) return Number(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return null;
}
