/**
 * Check rules: the host (check --host, apply: generator/rules/host.ts). The
 * helpers and the hook that demands every rule of the family:
 * test/support/check-rules.ts.
 */
import type { ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Diagnostic } from '../../../generator/rules/diagnostic.js';
import { defaultOptions, type GeneratorOptions } from '../../../generator/pipeline/options.js';
import { hostPreflight, type HostRequest } from '../../../generator/pipeline/host-probe.js';
import { STOPS_APPLY } from '../../../generator/rules/host.js';
import { sandboxData } from '../../../generator/pipeline/sandbox.js';
import { spawnRunner } from '../../../generator/util/command-runner.js';
import { APPLY_PROGRAMS } from '../../../generator/apply/programs.js';
import { ruleTests, NOBODY, assertDiagnostics } from '../../support/check-rules.js';
import { tempDir } from '../../support/data-dir.js';

const test = ruleTests(import.meta.url);

/** Every program the host rules look for, as a stand-in that exits 0 (a QEMU that reads its QMP and quits). */
const HOST_PROGRAMS = [
  'cloud-hypervisor', 'ch-remote', 'qemu-system-x86_64', 'execlineb', 's6-log', 's6-notifyoncheck', 's6-svc', 's6-svwait', 's6-permafailon',
  's6-svstat', 's6-svdt-clear', 's6-setuidgid', 's6-applyuidgid', 's6-ipcclient', 's6-ioconnect', 'ip', 's6-rc-compile', 's6-rc-init', 's6-rc-update', 's6-rc',
  's6-softlimit', 's6-svscanctl', 'unshare', 'mount', 'setfacl', 'bwrap',
];

interface HostFixture {
  readonly bin: string;
  request(options: Partial<GeneratorOptions>, extra?: Partial<HostRequest>): HostRequest;
}

function hostFixture(t: ExecutionContext): HostFixture {
  const bin = tempDir('vmsvc-host-');
  fs.chmodSync(bin, 0o755);
  t.teardown(() => fs.rmSync(bin, { recursive: true, force: true }));
  for (const p of HOST_PROGRAMS) fs.writeFileSync(path.join(bin, p), '#!/bin/sh\ncat >/dev/null\nexit 0\n', { mode: 0o755 });
  return {
    bin,
    request: (options, extra = {}) => ({
      // No cgroup unless a test asks: this machine's cgroup v2 has no controllers (host-cgroup-unusable has tests of its own).
      options: { ...defaultOptions, cgroup: null, ...options, programs: { ...defaultOptions.programs, execlineb: path.join(bin, 'execlineb'), ...options.programs } },
      applyPrograms: Object.values(APPLY_PROGRAMS).map((p) => ({ flag: `--${p.flag}`, program: p.path })),
      // Root's own temp dir above it (/tmp is sticky and root's): the way is root's alone.
      dataDir: path.join(bin, 'data'),
      scandir: null,
      kvmProbe: null,
      pathEnv: bin,
      ...extra,
    }),
  };
}

const asRoot = process.getuid?.() === 0;

/**
 * The host rules but host-vmm-hidden, which every stand-in VMM the fixture
 * finds by name in its temp dir gets (a sandbox shows /usr only), so that
 * each test shows only its own rule; tested on its own below.
 */
const hostRules = (req: HostRequest, runner: typeof spawnRunner): Diagnostic[] => hostPreflight(req, runner).filter((d) => d.rule !== 'host-vmm-hidden' && d.rule !== 'host-data-shared-fs');

test('host-program-missing: setfacl, when a VMM that runs as another uid than root opens a file by path (cloud-hypervisor, QEMU\'s kernel); not as root, nor with crosvm', (t) => {
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 'setfacl'));
  const missing = [{ severity: 'error' as const, rule: 'host-program-missing' as const, path: 'setfacl', vm: null, mentions: ['--setfacl'] }];
  const qemu = { vmm: 'qemu' as const, programs: { ...defaultOptions.programs, vmm: 'qemu-system-x86_64' } };
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), missing);
  assertDiagnostics(t, hostRules(h.request({ ...qemu }), spawnRunner), missing);
  assertDiagnostics(t, hostRules(h.request({ vmmUser: { kind: 'shared', name: 'nobody' }, accel: 'tcg' }), spawnRunner), missing);
  assertDiagnostics(t, hostRules(h.request({ accel: 'tcg', vmmUser: { kind: 'root' } }), spawnRunner), []);
  assertDiagnostics(t, hostRules(h.request({ vmm: 'crosvm', programs: { ...defaultOptions.programs, vmm: 'cloud-hypervisor' } }), spawnRunner), []);
});

test('host: with every program there and a KVM probe that works, the host rules say nothing', (t) => {
  const h = hostFixture(t);
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), []);
  assertDiagnostics(t, hostRules(h.request({ vmm: 'qemu', programs: { ...defaultOptions.programs, vmm: 'qemu-system-x86_64' } }), spawnRunner), []);
});

test('host-vmm-missing: the VMM is not in PATH, or not at its absolute path', (t) => {
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 'cloud-hypervisor'));
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ rule: 'host-vmm-missing', path: 'cloud-hypervisor', vm: null, mentions: ['cloud-hypervisor', '--vmm-bin'] }]);
  const gone = path.join(h.bin, 'gone', 'cloud-hypervisor');
  assertDiagnostics(t, hostRules(h.request({ programs: { ...defaultOptions.programs, vmm: gone } }), spawnRunner), [{ rule: 'host-vmm-missing', path: gone, vm: null, mentions: [gone] }]);
});

test(`host-vmm-not-executable: the VMM's user cannot execute it (mode 0744, user nobody or a VM's own uid); root and 0755 can${asRoot ? '' : ' [skipped: needs root]'}`, (t) => {
  if (!asRoot) return t.pass();
  const h = hostFixture(t);
  const vmm = path.join(h.bin, 'cloud-hypervisor');
  fs.chmodSync(vmm, 0o744);
  const options = { vmmUser: { kind: 'shared', name: 'nobody' } as const, accel: 'tcg' as const, programs: { ...defaultOptions.programs, s6Setuidgid: 's6-setuidgid' } };
  // Debian's s6-setuidgid, so that the switch to nobody is real.
  assertDiagnostics(t, hostRules(h.request(options, { pathEnv: `${h.bin}:/usr/bin:/bin` }), spawnRunner).filter((d) => d.rule !== 'host-program-missing'),
    [{ rule: 'host-vmm-not-executable', path: vmm, vm: null, mentions: ['nobody'] }]);
  fs.rmSync(path.join(h.bin, 's6-setuidgid'));
  assertDiagnostics(t, hostRules(h.request({ accel: 'tcg', vmmUser: { kind: 'root' } }), spawnRunner), []);
  // Each VM's own uid (the default), asked as the first of the range, by Debian's s6-applyuidgid.
  fs.rmSync(path.join(h.bin, 's6-applyuidgid'));
  assertDiagnostics(t, hostRules(h.request({ accel: 'tcg' }, { pathEnv: `${h.bin}:/usr/bin:/bin` }), spawnRunner).filter((d) => d.rule !== 'host-program-missing'),
    [{ rule: 'host-vmm-not-executable', path: vmm, vm: null, mentions: ['uid 1879048192'] }]);
  fs.chmodSync(vmm, 0o755);
  assertDiagnostics(t, hostRules(h.request(options, { pathEnv: `${h.bin}:/usr/bin:/bin` }), spawnRunner).filter((d) => d.rule !== 'host-program-missing'), []);
});

test('host-vmm-hidden: a VMM found by name outside /usr is not in its sandbox; by absolute path its directory is bound, and --sandbox none needs none', (t) => {
  const h = hostFixture(t);
  const found = path.join(h.bin, 'cloud-hypervisor');
  const hidden = (at: string, ...mentions: string[]) => [{ rule: 'host-vmm-hidden' as const, path: at, vm: null, mentions: [at, '--sandbox bwrap', ...mentions] }];
  assertDiagnostics(t, hostPreflight(h.request({ accel: 'tcg', vmmUser: { kind: 'root' } }), spawnRunner), hidden(found));
  assertDiagnostics(t, hostPreflight(h.request({ accel: 'tcg', vmmUser: { kind: 'root' }, sandbox: 'none' }), spawnRunner), []);
  assertDiagnostics(t, hostPreflight(h.request({ accel: 'tcg', vmmUser: { kind: 'root' }, programs: { ...defaultOptions.programs, vmm: found } }), spawnRunner), []);
  // The same with QEMU, whose VMM also probes KVM.
  const qemu = path.join(h.bin, 'qemu-system-x86_64');
  assertDiagnostics(t, hostRules(h.request({ vmm: 'qemu', programs: { ...defaultOptions.programs, vmm: 'qemu-system-x86_64' } }), spawnRunner), []);
  assertDiagnostics(t, hostPreflight(h.request({ vmm: 'qemu', programs: { ...defaultOptions.programs, vmm: 'qemu-system-x86_64' } }), spawnRunner), hidden(qemu));
  assertDiagnostics(t, hostPreflight(h.request({ vmm: 'qemu', programs: { ...defaultOptions.programs, vmm: qemu } }), spawnRunner), []);
});

test('host-vmm-hidden: an absolute --vmm-bin that links beside itself is shown; one that links out of its bound directory is not, named with where it leads', (t) => {
  const h = hostFixture(t);
  const opt = path.join(h.bin, 'opt');
  for (const d of ['bin', 'libexec']) fs.mkdirSync(path.join(opt, d), { recursive: true, mode: 0o755 });
  fs.renameSync(path.join(h.bin, 'cloud-hypervisor'), path.join(opt, 'bin', 'cloud-hypervisor-v40'));
  const vmm = path.join(opt, 'bin', 'cloud-hypervisor');
  fs.symlinkSync('cloud-hypervisor-v40', vmm);
  const request = h.request({ accel: 'tcg', vmmUser: { kind: 'root' }, programs: { ...defaultOptions.programs, vmm } });
  assertDiagnostics(t, hostPreflight(request, spawnRunner), []);
  // A bound directory that is itself a link: bwrap binds where it leads, at the path given.
  fs.symlinkSync(path.join(opt, 'bin'), path.join(opt, 'current'));
  const viaLink = path.join(opt, 'current', 'cloud-hypervisor');
  assertDiagnostics(t, hostPreflight(h.request({ accel: 'tcg', vmmUser: { kind: 'root' }, programs: { ...defaultOptions.programs, vmm: viaLink } }), spawnRunner), []);
  fs.renameSync(path.join(opt, 'bin', 'cloud-hypervisor-v40'), path.join(opt, 'libexec', 'cloud-hypervisor'));
  fs.rmSync(vmm);
  fs.symlinkSync('../libexec/cloud-hypervisor', vmm);
  assertDiagnostics(t, hostPreflight(request, spawnRunner), [{ rule: 'host-vmm-hidden', path: vmm, vm: null, mentions: [vmm, path.join(opt, 'libexec', 'cloud-hypervisor')] }]);
  t.false(STOPS_APPLY.has('host-vmm-hidden'));
});

/** A temp dir below /usr/local, which the sandbox shows: only root may make one. */
function usrDir(t: ExecutionContext): string | null {
  if (!asRoot || !fs.existsSync('/usr/local')) return null;
  const dir = tempDir('vmsvc-usr-', '/usr/local');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test(`host-vmm-hidden: a name found below /usr is shown, unless it is a link to outside /usr, which the sandbox shows leading nowhere${asRoot ? '' : ' [skipped: needs root]'}`, (t) => {
  const usr = usrDir(t);
  if (usr === null) return t.pass('no root or /usr/local here');
  const h = hostFixture(t);
  const opt = path.join(h.bin, 'cloud-hypervisor');
  const linked = path.join(usr, 'cloud-hypervisor');
  const request = h.request({ accel: 'tcg', vmmUser: { kind: 'root' } }, { pathEnv: `${usr}:${h.bin}` });
  fs.copyFileSync(opt, linked);
  assertDiagnostics(t, hostPreflight(request, spawnRunner), []);
  fs.rmSync(linked);
  fs.symlinkSync(opt, linked);
  const got = hostPreflight(request, spawnRunner);
  assertDiagnostics(t, got, [{ rule: 'host-vmm-hidden', path: linked, vm: null, mentions: [linked, opt] }]);
  t.regex(got[0]?.hint ?? '', new RegExp(`--vmm-bin ${opt}\\b.*--sandbox none`));
  // As named by absolute path: /usr is shown whole, so its directory is not bound either.
  assertDiagnostics(t, hostPreflight(h.request({ accel: 'tcg', vmmUser: { kind: 'root' }, programs: { ...defaultOptions.programs, vmm: linked } }), spawnRunner),
    [{ rule: 'host-vmm-hidden', path: linked, vm: null, mentions: [opt] }]);
  // A link within /usr stays within it.
  fs.rmSync(linked);
  fs.copyFileSync(opt, path.join(usr, 'ch-real'));
  fs.chmodSync(path.join(usr, 'ch-real'), 0o755);
  fs.symlinkSync('ch-real', linked);
  assertDiagnostics(t, hostPreflight(request, spawnRunner), []);
});

/** Whether the real bwrap, with the binds the run script gives it (pipeline/sandbox.ts), runs `program` looked up in `pathEnv`. */
function bwrapRuns(program: string, pathEnv: string, runtimeDir: string): boolean {
  const box = sandboxData({ bwrap: '/usr/bin/bwrap', vmm: program, makesUserNamespaces: false, runtimeDir, sandboxRoot: null, files: [], kvm: false, tun: false });
  const r = spawnSync(box.program, [...box.options.flat(), '--', program], { input: '', env: { PATH: pathEnv }, timeout: 10_000 });
  return r.status === 0;
}

test(`host-vmm-hidden agrees with the real bwrap: a VMM it reports is one the sandbox cannot run, and one it does not report runs${asRoot ? '' : ' [skipped: needs root]'}`, (t) => {
  const h = hostFixture(t);
  // The VM's runtime dir, which the sandbox binds: empty, apart from the programs.
  const runtime = path.join(h.bin, 'run');
  fs.mkdirSync(runtime, { mode: 0o755 });
  if (!asRoot || !fs.existsSync('/usr/bin/bwrap') || !bwrapRuns('true', '/usr/bin', runtime)) return t.pass('no root or no working bwrap here');
  const usr = usrDir(t);
  const opt = path.join(h.bin, 'opt');
  for (const d of ['bin', 'libexec']) fs.mkdirSync(path.join(opt, d), { recursive: true, mode: 0o755 });
  fs.copyFileSync(path.join(h.bin, 'cloud-hypervisor'), path.join(opt, 'bin', 'ch-v40'));
  fs.copyFileSync(path.join(h.bin, 'cloud-hypervisor'), path.join(opt, 'libexec', 'ch'));
  for (const f of [path.join(opt, 'bin', 'ch-v40'), path.join(opt, 'libexec', 'ch')]) fs.chmodSync(f, 0o755);
  fs.symlinkSync('ch-v40', path.join(opt, 'bin', 'ch'));
  fs.symlinkSync('../libexec/ch', path.join(opt, 'bin', 'out'));
  fs.symlinkSync(path.join(opt, 'bin'), path.join(opt, 'current'));
  const cases: Array<readonly [vmm: string, pathEnv: string]> = [
    ['cloud-hypervisor', `${h.bin}:/usr/bin`],
    [path.join(h.bin, 'cloud-hypervisor'), '/usr/bin'],
    [path.join(opt, 'bin', 'ch'), '/usr/bin'],
    [path.join(opt, 'current', 'ch'), '/usr/bin'],
    [path.join(opt, 'bin', 'out'), '/usr/bin'],
    ['true', '/usr/bin'],
  ];
  if (usr !== null) {
    fs.symlinkSync(path.join(opt, 'bin', 'ch-v40'), path.join(usr, 'ch-linked'));
    fs.copyFileSync(path.join(opt, 'bin', 'ch-v40'), path.join(usr, 'ch-copied'));
    fs.chmodSync(path.join(usr, 'ch-copied'), 0o755);
    cases.push(['ch-linked', `${usr}:/usr/bin`], ['ch-copied', `${usr}:/usr/bin`], [path.join(usr, 'ch-linked'), '/usr/bin']);
  }
  const verdicts = cases.map(([vmm, pathEnv]) => {
    const reported = hostPreflight(h.request({ accel: 'tcg', vmmUser: { kind: 'root' }, programs: { ...defaultOptions.programs, vmm } }, { pathEnv: `${pathEnv}:${h.bin}` }), spawnRunner)
      .some((d) => d.rule === 'host-vmm-hidden');
    t.is(reported, !bwrapRuns(vmm, pathEnv, runtime), `${vmm} in PATH ${pathEnv}`);
    t.log(`${vmm} in PATH ${pathEnv}: ${reported ? 'hidden' : 'shown'}`);
    return reported;
  });
  t.deepEqual(new Set(verdicts), new Set([true, false]), 'both verdicts were put to bwrap');
});

test('host-program-missing: a program the generated services run, by its flag; only the VMM\'s own client is asked for', (t) => {
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 's6-log'));
  fs.rmSync(path.join(h.bin, 's6-ipcclient'));
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ rule: 'host-program-missing', path: 's6-log', vm: null, mentions: ['s6-log', '--s6-log'] }]);
  assertDiagnostics(t, hostRules(h.request({ vmm: 'qemu', programs: { ...defaultOptions.programs, vmm: 'qemu-system-x86_64' } }), spawnRunner), [
    { rule: 'host-program-missing', path: 's6-log', vm: null, mentions: ['--s6-log'] },
    { rule: 'host-program-missing', path: 's6-ipcclient', vm: null, mentions: ['--s6-ipcclient'] },
  ]);
  // A file without an execute bit is not found, as execvp skips it.
  fs.writeFileSync(path.join(h.bin, 's6-log'), '', { mode: 0o644 });
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ rule: 'host-program-missing', path: 's6-log', vm: null, mentions: ['s6-log'] }]);
});

test('host-program-missing: bwrap, with --sandbox bwrap (the default) only; host-sandbox-unusable: bwrap that cannot make the sandbox, with what it said', (t) => {
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 'bwrap'));
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ rule: 'host-program-missing', path: 'bwrap', vm: null, mentions: ['bwrap', '--bwrap'] }]);
  assertDiagnostics(t, hostRules(h.request({ sandbox: 'none' }), spawnRunner), []);
  // What bwrap 0.8 says where unprivileged user namespaces are off.
  fs.writeFileSync(path.join(h.bin, 'bwrap'), '#!/bin/sh\necho "bwrap: No permissions to create new namespace, likely because the kernel does not allow non-privileged user namespaces." >&2\nexit 1\n', { mode: 0o755 });
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ rule: 'host-sandbox-unusable', path: path.join(h.bin, 'bwrap'), vm: null, mentions: ['non-privileged user namespaces', '--sandbox bwrap'] }]);
  assertDiagnostics(t, hostRules(h.request({ sandbox: 'none' }), spawnRunner), []);
  t.false(STOPS_APPLY.has('host-sandbox-unusable'));
});

test(`host-sandbox-unusable: the real bwrap makes the sandbox as a VM's own uid here, and fails where it cannot make a user namespace${asRoot ? '' : ' [skipped: needs root]'}`, (t) => {
  if (!asRoot || !fs.existsSync('/usr/bin/bwrap') || !fs.existsSync('/usr/bin/s6-applyuidgid')) return t.pass('no root, bwrap or s6-applyuidgid here');
  const h = hostFixture(t);
  for (const p of ['bwrap', 's6-applyuidgid']) fs.rmSync(path.join(h.bin, p));
  const pathEnv = `${h.bin}:/usr/bin:/bin`;
  const started = Date.now();
  assertDiagnostics(t, hostRules(h.request({ accel: 'tcg' }, { pathEnv }), spawnRunner).filter((d) => d.rule !== 'host-vmm-not-executable'), []);
  t.log(`the probe took ${Date.now() - started} ms`);
  // bwrap run inside a user namespace that may hold no other (max_user_namespaces 0 in it), as on a host that allows none.
  const wrapper = path.join(h.bin, 'bwrap');
  fs.writeFileSync(wrapper, '#!/bin/sh\nexec unshare --user --map-root-user sh -c \'echo 0 > /proc/sys/user/max_user_namespaces && exec /usr/bin/bwrap "$@"\' sh "$@"\n', { mode: 0o755 });
  assertDiagnostics(t, hostRules(h.request({ accel: 'tcg' }, { pathEnv }), spawnRunner).filter((d) => d.rule !== 'host-vmm-not-executable'),
    [{ rule: 'host-sandbox-unusable', path: wrapper, vm: null, mentions: ['uid 1879048192', 'bwrap'] }]);
});

test('host-data-ancestor-untrusted: a directory above the data dir others can write, not the data dir itself; --data-at-runtime is what is judged', (t) => {
  const h = hostFixture(t);
  const svc = path.join(h.bin, 'svc');
  const data = path.join(svc, 'data');
  fs.mkdirSync(data, { recursive: true });
  fs.chmodSync(svc, 0o755);
  // The data dir is the user's to write: that alone is no fault.
  fs.chmodSync(data, 0o777);
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: data }), spawnRunner), []);
  fs.chmodSync(svc, 0o775);
  const above = [{ rule: 'host-data-ancestor-untrusted' as const, path: svc, vm: null, mentions: [data, svc, 'mode 775'] }];
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: data }), spawnRunner), above);
  // Sticky right above: the data dir's owner, who need not be root, could still rename it away.
  fs.chmodSync(svc, 0o1777);
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: data }), spawnRunner), [{ ...above[0]!, mentions: [data, 'mode 1777'] }]);
  // The services open --data-at-runtime, not --data: the way to that one counts.
  const runtime = path.join(h.bin, 'runtime', 'data');
  fs.mkdirSync(runtime, { recursive: true });
  assertDiagnostics(t, hostRules(h.request({ dataDirAtRuntime: runtime }, { dataDir: data }), spawnRunner), []);
  assertDiagnostics(t, hostRules(h.request({ dataDirAtRuntime: data }, { dataDir: runtime }), spawnRunner), [{ ...above[0]!, mentions: [data] }]);
  t.false(STOPS_APPLY.has('host-data-ancestor-untrusted'));
});

test('host-data-shared-fs: a data dir on the file system of / is a warning naming it; one on a file system of its own (the tmpfs /dev/shm) is not; one that does not exist here is not judged', (t) => {
  const shared = fs.mkdtempSync('/vmsvc-shared-');
  t.teardown(() => fs.rmSync(shared, { recursive: true, force: true }));
  const h = hostFixture(t);
  const only = (req: HostRequest): Diagnostic[] => hostPreflight(req, spawnRunner).filter((d) => d.rule === 'host-data-shared-fs');
  assertDiagnostics(t, only(h.request({}, { dataDir: shared })), [{ severity: 'warning', rule: 'host-data-shared-fs', path: shared, vm: null, mentions: ['holds /:', 'hard-link'] }]);
  const own = fs.mkdtempSync('/dev/shm/vmsvc-own-');
  t.teardown(() => fs.rmSync(own, { recursive: true, force: true }));
  t.not(fs.statSync(own).dev, fs.statSync('/').dev, '/dev/shm is a file system of its own here');
  assertDiagnostics(t, only(h.request({}, { dataDir: own })), []);
  assertDiagnostics(t, only(h.request({ dataDirAtRuntime: '/nonexistent/svc/data' }, { dataDir: shared })), []);
});

test(`host-data-ancestor-untrusted: a directory above owned by another user, or a link on the way in one; sticky higher up is fine${asRoot ? '' : ' [skipped: needs root]'}`, (t) => {
  if (!asRoot) return t.pass();
  const h = hostFixture(t);
  const top = path.join(h.bin, 'mnt');
  const svc = path.join(top, 'svc');
  const data = path.join(svc, 'data');
  fs.mkdirSync(data, { recursive: true });
  fs.chmodSync(top, 0o755);
  fs.chmodSync(svc, 0o755);
  fs.chownSync(data, NOBODY, NOBODY);
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: data }), spawnRunner), []);
  fs.chownSync(top, NOBODY, NOBODY);
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: data }), spawnRunner), [{ rule: 'host-data-ancestor-untrusted', path: top, vm: null, mentions: [data, `uid ${NOBODY}`] }]);
  // Sticky above a root-owned directory: only root may rename that one.
  fs.chownSync(top, 0, 0);
  fs.chmodSync(top, 0o1777);
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: data }), spawnRunner), []);
  // --data through a link in another user's directory: they may point it elsewhere, though where it leads is root's.
  fs.chmodSync(top, 0o755);
  const home = path.join(h.bin, 'home');
  fs.mkdirSync(home, { mode: 0o755 });
  fs.chownSync(home, NOBODY, NOBODY);
  fs.symlinkSync(svc, path.join(home, 'svc'));
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: path.join(home, 'svc', 'data') }), spawnRunner),
    [{ rule: 'host-data-ancestor-untrusted', path: home, vm: null, mentions: [`uid ${NOBODY}`] }]);
});

test('host-s6rc-missing: a program apply runs, with the flag that names another (s6-svscanctl\'s too)', (t) => {
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 's6-rc-init'));
  fs.rmSync(path.join(h.bin, 's6-svscanctl'));
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [
    { rule: 'host-s6rc-missing', path: 's6-rc-init', vm: null, mentions: ['s6-rc-init', '--s6-rc-init'] },
    { rule: 'host-s6rc-missing', path: 's6-svscanctl', vm: null, mentions: ['s6-svscanctl', '--s6-svscanctl'] },
  ]);
  t.true(STOPS_APPLY.has('host-s6rc-missing'));
});

test('host-accel-unusable: a probe that fails is reported with what it said; tcg and kvm-or-tcg are not probed', (t) => {
  const h = hostFixture(t);
  fs.writeFileSync(path.join(h.bin, 'qemu-system-x86_64'), '#!/bin/sh\necho "Could not access KVM kernel module: No such file or directory" >&2\nexit 1\n', { mode: 0o755 });
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ rule: 'host-accel-unusable', path: '/dev/kvm', vm: null, mentions: ['Could not access KVM kernel module', 'uid 1879048192'] }]);
  assertDiagnostics(t, hostRules(h.request({ accel: 'tcg' }), spawnRunner), []);
  assertDiagnostics(t, hostRules(h.request({ accel: 'kvm-or-tcg' }), spawnRunner), []);
  t.false(STOPS_APPLY.has('host-accel-unusable'));
});

/**
 * What the kernel itself says, asked the way a VMM asks: open /dev/kvm,
 * KVM_GET_API_VERSION (0xAE00) must be 12, KVM_CREATE_VM (0xAE01) must
 * give a descriptor. python3 is only this test's oracle.
 */
function kvmCreatesVm(user: string | null): boolean | null {
  const script = 'import fcntl,os\nfd=os.open("/dev/kvm",os.O_RDWR|os.O_CLOEXEC)\nassert fcntl.ioctl(fd,0xAE00)==12\nos.close(fcntl.ioctl(fd,0xAE01,0))\n';
  const py = spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).stdout.trim();
  if (py === '') return null;
  const r = user === null ? spawnSync(py, ['-c', script]) : spawnSync('/usr/bin/s6-setuidgid', [user, py, '-c', script]);
  return r.status === 0;
}

test(`host-accel-unusable: real QEMU probes /dev/kvm as the VMM's user and agrees with the kernel's KVM_CREATE_VM, as root and as nobody${asRoot ? '' : ' [skipped: needs root]'}`, (t) => {
  const qemu = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { encoding: 'utf8' }).stdout.trim();
  if (!asRoot || qemu === '' || !fs.existsSync('/usr/bin/s6-setuidgid')) return t.pass('no root, QEMU or s6-setuidgid here');
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 'qemu-system-x86_64'));
  fs.rmSync(path.join(h.bin, 's6-setuidgid'));
  for (const user of ['root', 'nobody']) {
    const oracle = kvmCreatesVm(user === 'root' ? null : user);
    if (oracle === null) return t.pass('no python3 to ask the kernel with');
    const started = Date.now();
    const got = hostRules(h.request({ vmmUser: user === 'root' ? { kind: 'root' } : { kind: 'shared', name: user } }, { pathEnv: `${h.bin}:${path.dirname(qemu)}:/usr/bin` }), spawnRunner)
      .filter((d) => d.rule !== 'host-vmm-not-executable');
    t.log(`${user}: the kernel says ${oracle ? 'yes' : 'no'}; probe took ${Date.now() - started} ms`);
    assertDiagnostics(t, got, oracle ? [] : [{ rule: 'host-accel-unusable', path: '/dev/kvm', vm: null, mentions: [user] }]);
  }
});

test('host-accel-unprobed: no QEMU to probe KVM with is a warning naming --kvm-probe', (t) => {
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 'qemu-system-x86_64'));
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ severity: 'warning', rule: 'host-accel-unprobed', path: 'qemu-system-x86_64', vm: null, mentions: ['--kvm-probe'] }]);
  // With QEMU as the VMM, the VMM itself probes: here a stand-in that works.
  assertDiagnostics(t, hostRules(h.request({ vmm: 'qemu', programs: { ...defaultOptions.programs, vmm: 'cloud-hypervisor' } }), spawnRunner), []);
});

test('host-cgroup-unusable: a --cgroup parent that is missing, not cgroup2, or cgroup2 without the controllers (this machine\'s: bound to v1) stops apply; --cgroup none asks nothing', (t) => {
  const h = hostFixture(t);
  const said = (cgroup: string | null): Diagnostic[] => hostRules(h.request({ accel: 'tcg', sandbox: 'none', cgroup }), spawnRunner).filter((d) => d.rule === 'host-cgroup-unusable');
  t.true(STOPS_APPLY.has('host-cgroup-unusable'));
  t.deepEqual(said(null), []);
  const missing = path.join(h.bin, 'no-such-cgroup');
  assertDiagnostics(t, said(missing), [{ rule: 'host-cgroup-unusable', path: missing, vm: null, mentions: ['ENOENT', '--cgroup'] }]);
  assertDiagnostics(t, said(h.bin), [{ rule: 'host-cgroup-unusable', path: h.bin, vm: null, mentions: ['not on a cgroup2 file system'] }]);
  const unified = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((d) => { try { return fs.statfsSync(d).type === 0x63677270; } catch { return false; } });
  if (unified === undefined) {
    t.log('no cgroup2 mount here: the controller half is left to the guest test (test/system/cgroup-guest.test.ts)');
    return;
  }
  const controllers = fs.readFileSync(path.join(unified, 'cgroup.controllers'), 'latin1').trim().split(/\s+/).filter((c) => c !== '');
  const lacking = ['memory', 'pids', 'cpu'].filter((c) => !controllers.includes(c));
  if (lacking.length === 0) {
    t.log(`${unified} has every controller: the "not among its controllers" half is left to the guest test`);
    return;
  }
  // A child of the cgroup2 root: root's, with cgroup.kill, but the controllers are elsewhere.
  const parent = fs.mkdtempSync(path.join(unified, 'vmsvc-test-'));
  t.teardown(() => fs.rmdirSync(parent));
  const d = said(parent);
  assertDiagnostics(t, d, [{ rule: 'host-cgroup-unusable', path: parent, vm: null, mentions: [...lacking, 'cgroup.controllers', 'bound to cgroup v1'] }]);
  t.true(d[0]!.hint.includes('--cgroup none'));
});

test('host-svscan-missing: no s6-svscan watches the scandir; a running one is found by its working directory', (t) => {
  const h = hostFixture(t);
  const scandir = tempDir('vmsvc-scan-');
  t.teardown(() => fs.rmSync(scandir, { recursive: true, force: true }));
  assertDiagnostics(t, hostRules(h.request({}, { scandir }), spawnRunner), [{ rule: 'host-svscan-missing', path: scandir, vm: null, mentions: ['s6-svscan'] }]);
  t.true(STOPS_APPLY.has('host-svscan-missing'));
  const svscan = spawn('s6-svscan', [scandir], { stdio: 'ignore' });
  t.teardown(() => {
    svscan.kill('SIGKILL');
  });
  const sleep = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 200 && !fs.existsSync(path.join(scandir, '.s6-svscan', 'control')); i++) Atomics.wait(sleep, 0, 0, 25);
  assertDiagnostics(t, hostRules(h.request({}, { scandir }), spawnRunner), []);
});
