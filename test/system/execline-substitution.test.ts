/**
 * Data from the data dir comes out exactly through execline's run-time
 * substitution, not only through its lexer: every generated script (the VM's
 * run script and its stop path, the readiness check, the finish script, the
 * logger's run script, the link oneshots) runs under a real execlineb
 * (Debian's and the s6-rc prefix's, whichever are here) with every program
 * it calls replaced by a recording stub (test/support/recording-stubs.ts),
 * over random VM names, disk names and command lines drawn from what check
 * accepts: `$`, braces, backslashes, and the very names of the variables the
 * templates substitute (vmsvc_wait_ms, vmsvc_reply, vmsvc_wantedup, and the
 * readiness check's re-attach loop's vmsvc_links, vmsvc_link, vmsvc_mac,
 * vmsvc_sock). Each program must receive exactly the argv (and stdin) the
 * VM's own paths give: with a VMM that hot-plugs links, the provider's check
 * attaches each link root recorded, by that record's number and MAC, on that
 * provider's socket; a link's up records it and attaches it there, its down
 * removes the record and detaches it there.
 *
 * Before the fix, a VM named `${vmsvc_wait_ms}` pressed the power button of
 * `<runtime>/5000/`, another VM's socket, on every stop (the forx of the stop
 * handler substituted its own loop variable into the socket path).
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { defaultOptions, type GeneratorOptions } from '../../generator/pipeline/options.js';
import { generate } from '../../generator/pipeline/index.js';
import { lexExecline } from '../../generator/s6rc/execline-lex.js';
import { VMM_FACTS, type NetHotplug, type Vmm, type VmmRequest } from '../../generator/vmm/index.js';
import { vmmUnsafe, type VmName } from '../../generator/rules/vm-name.js';
import { assignIdentities, type RunAs, type VmIdentities } from '../../generator/pipeline/identities.js';
import { assignLinks, linkHex, makeLink, type Link, type LinkNumber } from '../../generator/pipeline/links.js';
import { ELF_HEADER, makeVm, tempDir } from '../support/data-dir.js';
import { makeStubs, type Call, type Stubs } from '../support/recording-stubs.js';
import { realS6rc } from '../support/real-s6rc.js';

/** Each execline here whose programs the scripts can run: [label, the directory of its programs]. */
const CANDIDATES: ReadonlyArray<readonly [string, string]> = [
  ['Debian', '/usr/lib/execline/bin'],
  ...(realS6rc === null ? [] : [['prefix', path.dirname(realS6rc.bin('execlineb'))] as const]),
];
const EXECLINES = CANDIDATES.filter(([, dir]) => fs.existsSync(path.join(dir, 'execlineb')) && fs.existsSync(path.join(dir, 'forx')));

const STOP_TIMEOUT_MS = 10_000;
/** The presses of a stop of STOP_TIMEOUT_MS: one every 5 s (plan-vm.ts PRESS_EVERY_MS). */
const PRESS_WAITS = ['5000', '5000'];
const REQUEST_BOUND = '5000';

/**
 * Every variable the bundled templates name (vmsvc_*), read from them: a
 * template that substitutes a new one gets it tried as a VM name here
 * without anyone remembering to add it.
 */
const TEMPLATES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'templates');
const TEMPLATE_VARIABLES = [...new Set(fs.readdirSync(TEMPLATES, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.hbs'))
  .flatMap((f) => [...fs.readFileSync(path.join(TEMPLATES, f), 'utf8').matchAll(/\bvmsvc_[a-z_]+\b/g)].map((m) => m[0])))].sort();

/** Pieces of names: execline's substitution syntax, the templates' own keys, shell syntax, UTF-8. */
const PIECES = [
  ...TEMPLATE_VARIABLES.flatMap((v) => [v, `\${${v}}`, `$${v}`]),
  'a', 'b', 'x', '0', '5', '-', '_', ' ', '=', '$', '{', '}', '\\', '!', '#', ';', "'", '`', '@', 'é', '💥',
  'vmsvc_wait_ms', 'vmsvc_reply', 'vmsvc_wantedup', 'SIGNAL', '${vmsvc_wait_ms}', '$vmsvc_wait_ms', '\\${vmsvc_reply}',
  '\\\\$vmsvc_reply', '${vmsvc_wantedup}', '${!}', '$!', '${', '$1', '${@}',
];

/** What check accepts as a VM name (rules/vm-name.ts), kept short so the socket paths fit. */
const nameArb = fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 5 })
  .map((p) => p.join(''))
  .filter((n) => !n.startsWith('.') && !n.endsWith('-log') && !n.endsWith('-pipeline') && Buffer.byteLength(n) <= 40);

/** config/cmdline takes printable ASCII only. */
const cmdlineArb = fc.array(fc.constantFrom('quiet', 'x=${vmsvc_wait_ms}', 'y=$vmsvc_reply', 'z=\\${vmsvc_wantedup}', 'a\\b', '{', '}', '$'), { minLength: 1, maxLength: 4 })
  .map((p) => p.join(' '));

interface Case {
  readonly provider: string;
  readonly client: string;
  readonly disk: string;
  readonly cmdline: string;
  readonly guestReady: boolean;
}

/** Cases for one VMM: names without what its option values cannot hold (crosvm: a single quote). */
function caseArb(vmm: Vmm): fc.Arbitrary<Case> {
  const unsafe = vmmUnsafe(vmm).pattern;
  const name = nameArb.filter((n) => !unsafe.test(n));
  return fc.record({
    provider: name,
    client: name,
    disk: name.map((n) => `${n}.img`),
    cmdline: cmdlineArb,
    guestReady: fc.boolean(),
  }).filter((c) => c.provider !== c.client);
}

/** The names most likely to break a stop, always tried first. */
const EXAMPLES: Case[] = [
  { provider: '${vmsvc_wait_ms}', client: '$vmsvc_reply', disk: '${vmsvc_wantedup}.img', cmdline: 'x=${vmsvc_wait_ms}', guestReady: true },
  { provider: '\\${vmsvc_wait_ms}', client: '\\\\${vmsvc_reply}', disk: '\\$vmsvc_wait_ms.img', cmdline: 'a\\b $', guestReady: false },
  // Every other variable a template names, as a name, a disk and a kernel parameter.
  ...TEMPLATE_VARIABLES.filter((v) => !['vmsvc_wait_ms', 'vmsvc_reply', 'vmsvc_wantedup'].includes(v))
    .map((v): Case => ({ provider: `\${${v}}`, client: `$${v}`, disk: `\${${v}}.img`, cmdline: `x=\${${v}}`, guestReady: false })),
];

for (const vmm of ['qemu', 'cloud-hypervisor', 'crosvm'] as const) {
  for (const [label, execlineBin] of EXECLINES) {
    test(`${vmm}, ${label} execline: every generated script passes data-dir strings through execline's substitution exactly`, async (t) => {
      t.timeout(240_000);
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(caseArb(vmm), async (c) => {
          runs++;
          await checkCase(t, vmm, execlineBin, c);
        }),
        // fast-check counts the examples among numRuns: every example, then 6 drawn.
        { numRuns: EXAMPLES.length + 6, examples: EXAMPLES.map((e) => [e]), endOnFailure: true, includeErrorInReport: true },
      );
      t.true(runs >= EXAMPLES.length);
      t.true(TEMPLATE_VARIABLES.includes('vmsvc_pid') && TEMPLATE_VARIABLES.length >= 5, `the templates' variables were read: ${TEMPLATE_VARIABLES.join(', ')}`);
    });
  }
}
if (EXECLINES.length === 0) test.skip('execline substitution [skipped: no execline here: neither Debian\'s /usr/lib/execline/bin nor the s6-rc prefix\'s]', () => {});

async function checkCase(t: ExecutionContext, vmm: Vmm, execlineBin: string, c: Case): Promise<void> {
  const root = tempDir('vmsvc-subst-');
  try {
    const data = path.join(root, 'data');
    fs.mkdirSync(data);
    const facts = VMM_FACTS[vmm];
    const guestReady = c.guestReady && facts.guestReady.kind === 'request';
    const config = { cmdline: c.cmdline, ...(guestReady ? { 'guest-ready': '' } : {}) };
    makeVm(data, c.provider, { kernel: ELF_HEADER, initramfs: 'initramfs', disks: [c.disk], config });
    makeVm(data, c.client, { kernel: ELF_HEADER, initramfs: 'initramfs', disks: [c.disk], providers: [c.provider], config });
    const stubs = makeStubs(root, execlineBin, facts.program);
    const opts = stubOptions(vmm, stubs, root, path.join(execlineBin, 'execlineb'));
    const out = path.join(root, 'out');
    const outcome = generate(data, out, opts, false);
    if (outcome.kind !== 'done') throw new Error(`check refused ${JSON.stringify(c)}: ${JSON.stringify(outcome.check.diagnostics)}`);
    const ids = assignIdentities([c.provider, c.client] as VmName[], opts);
    const [link] = assignLinks([{ client: c.client as VmName, provider: c.provider as VmName }]);
    const paths = new Map<string, VmPaths>();
    for (const name of [c.provider, c.client]) {
      const vm: VmPaths = {
        name,
        ids: ids.get(name as VmName)!,
        dir: path.join(data, name),
        runtime: path.join(root, 'run', name),
        log: path.join(root, 'log', name),
        socket: path.join(root, 'run', name, facts.controlSocket),
        // A plain dir stands for the VM's cgroup: what the run script writes there is read back.
        cgroup: path.join(root, 'cgroup', `vm-${name}`),
        records: path.join(root, 'run', '.links', name),
      };
      paths.set(name, vm);
      fs.mkdirSync(vm.cgroup, { recursive: true });
      await checkVm(t, vmm, stubs, path.join(out, `vm-${name}`), path.join(out, `vm-${name}-log`), vm, c, guestReady, name === c.provider ? [link!] : []);
    }
    const links = fs.readdirSync(out).filter((e) => e.startsWith('vmnet-'));
    t.deepEqual(links, [link!.service], 'the one link, numbered as assignLinks numbers it');
    await checkLinkScripts(t, vmm, stubs, path.join(execlineBin, 'execlineb'), path.join(out, link!.service), link!, paths.get(c.provider)!);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function stubOptions(vmm: Vmm, stubs: Stubs, root: string, execlineb: string): GeneratorOptions {
  return {
    ...defaultOptions,
    vmm,
    programs: {
      vmm: stubs.program(VMM_FACTS[vmm].program),
      execlineb,
      s6Log: stubs.program('s6-log'),
      s6Notifyoncheck: stubs.program('s6-notifyoncheck'),
      s6Ipcclient: stubs.program('s6-ipcclient'),
      s6Ioconnect: stubs.program('s6-ioconnect'),
      chRemote: stubs.program('ch-remote'),
      ip: stubs.program('ip'),
      s6Setuidgid: stubs.program('s6-setuidgid'),
      s6Applyuidgid: stubs.program('s6-applyuidgid'),
      s6Permafailon: stubs.program('s6-permafailon'),
      s6Svc: stubs.program('s6-svc'),
      s6Svwait: stubs.program('s6-svwait'),
      s6Svstat: stubs.program('s6-svstat'),
      s6SvdtClear: stubs.program('s6-svdt-clear'),
      unshare: stubs.program('unshare'),
      mount: stubs.program('mount'),
      setfacl: stubs.program('setfacl'),
      bwrap: stubs.program('bwrap'),
    },
    runtimeDir: path.join(root, 'run'),
    logDir: path.join(root, 'log'),
    cgroup: path.join(root, 'cgroup'),
    settings: { ...defaultOptions.settings, stopTimeoutMs: STOP_TIMEOUT_MS },
    userConsole: VMM_FACTS[vmm].console.kind !== 'none',
  };
}

interface VmPaths {
  readonly name: string;
  /** Who its VMM and loggers run as (the default: numbers of its own). */
  readonly ids: VmIdentities;
  /** The VM's directory in the data dir. */
  readonly dir: string;
  readonly runtime: string;
  readonly log: string;
  readonly socket: string;
  readonly cgroup: string;
  /** Root's records of the links hot-plugged into it as a provider. */
  readonly records: string;
}

/**
 * The calls a VMM request makes (vmm/capabilities.ts VmmRequest), with the
 * socket computed here: the drop to the VMM's own ids, which runs the client.
 */
function requestCalls(vmm: Vmm, stubs: Stubs, request: VmmRequest, vm: Pick<VmPaths, 'socket' | 'ids'>, silence = REQUEST_BOUND): Call[] {
  if (request.via === 'socket') {
    return [drop(vm.ids.vmm), { program: 's6-ipcclient', args: ['-q', vm.socket, stubs.program('s6-ioconnect'), '-t', silence], stdin: request.send }];
  }
  const program = request.client === 'ch-remote' ? 'ch-remote' : VMM_FACTS[vmm].program;
  return [drop(vm.ids.vmm), { program, args: request.args(vm.socket), stdin: null }];
}

/** The stub s6-applyuidgid's call, its options only (see calls()): what it runs is recorded next, by itself. */
function drop(r: RunAs): Call {
  if (r.kind !== 'ids') throw new Error('the default runs every VM as ids of its own');
  return { program: 's6-applyuidgid', args: ['-u', String(r.uid), '-g', String(r.gid), '-G', r.groups.join(',')], stdin: null };
}

/** Recorded calls, each s6-applyuidgid's cut to its options: the program it runs (block-encoded when in a block) is recorded as its own call. */
const calls = (recorded: readonly Call[]): Call[] => recorded.map((k) => (k.program === 's6-applyuidgid' ? { ...k, args: k.args.slice(0, 6) } : k));

function owner(r: RunAs): string {
  if (r.kind !== 'ids') throw new Error('the default runs every VM as ids of its own');
  return `${r.uid}:${r.gid}`;
}

const sortedGroups = (groups: ReadonlyArray<readonly Call[]>): string[] => groups.map((g) => JSON.stringify(g)).sort();
const sorted = (calls: readonly Call[]): Call[] => [...calls].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

/**
 * `provided`: the links it provides. With a VMM that hot-plugs, its check is
 * also given a record of a link no data-dir name made (0xbeef), so that the
 * re-attach loop goes round more than once.
 */
async function checkVm(t: ExecutionContext, vmm: Vmm, stubs: Stubs, service: string, logger: string, vm: VmPaths, c: Case, guestReady: boolean, provided: readonly Link[]): Promise<void> {
  const facts = VMM_FACTS[vmm];
  const hotplug = facts.netHotplug.kind === 'api' ? facts.netHotplug : null;
  const at = `${vmm} VM ${JSON.stringify(vm.name)}`;

  // The run script: the runtime dir made, old sockets removed, the VMM started (through s6-notifyoncheck).
  const run = await stubs.runAndStop(service);
  // The VMM's own logger runs beside the rest (pipeline -d), so its calls land when they land: counted once, in either.
  const logUid = drop(vm.ids.log);
  const vmmLogger = (c: Call): boolean => c.program === 's6-log' || (c.program === 'test' && c.args[1] === path.join(vm.log, 'vmm')) || (c.program === 's6-applyuidgid' && c.args[1] === logUid.args[1]);
  const start = calls(run.start).filter((c) => !vmmLogger(c));
  const stop = calls(run.stop).filter((c) => !vmmLogger(c));
  const vmmLog = path.join(vm.log, 'vmm');
  const consoleSocket = facts.console.kind === 'socket' ? [path.join(vm.runtime, facts.console.socket)] : [];
  t.deepEqual(calls([...run.start, ...run.stop]).filter(vmmLogger), [
    logUid,
    { program: 'test', args: ['-h', vmmLog, '-o', '-d', vmmLog, '-a', '!', '-O', vmmLog], stdin: null },
    { program: 's6-log', args: ['--', 'n3', 's131072', 'T', vmmLog], stdin: null },
  ], `${at}: the VMM's stderr goes to its own logger, as the log uid, in its own dir`);
  t.deepEqual(start.slice(0, -1), [
    // Its cgroup first (the stub test says it is not there yet), then the limits and this script's pid, written by execline (echo is the real one).
    { program: 'test', args: ['-d', vm.cgroup], stdin: null },
    { program: 'mkdir', args: ['--', vm.cgroup], stdin: null },
    ...(facts.sandboxRoot === null ? [] : [{ program: 'mkdir', args: ['-p', '-m', '0555', '--', path.join(path.dirname(vm.runtime), facts.sandboxRoot)], stdin: null }]),
    // The stub test says the dir is not the VMM's: it is made anew.
    drop(vm.ids.vmm),
    { program: 'test', args: ['-O', vm.runtime], stdin: null },
    { program: 'rm', args: ['-rf', '--one-file-system', '--', vm.runtime], stdin: null },
    { program: 'mkdir', args: ['-p', '-m', '0700', '--', vm.runtime], stdin: null },
    { program: 'chown', args: ['--', owner(vm.ids.vmm), vm.runtime], stdin: null },
    { program: 'chmod', args: ['0700', vm.runtime], stdin: null },
    // Root's records of the links hot-plugged into it, its name one word.
    ...(hotplug === null ? [] : [{ program: 'mkdir', args: ['-p', '-m', '0700', '--', vm.records], stdin: null }]),
    { program: 'rm', args: ['-f', '--', vm.socket, ...consoleSocket], stdin: null },
    { program: 'mkdir', args: ['-p', '-m', '0750', '--', vm.log], stdin: null },
    { program: 'chown', args: ['-h', '--', owner(vm.ids.log), vm.log], stdin: null },
  ], `${at}: run script's preparation`);
  const written = (f: string): string => fs.readFileSync(path.join(vm.cgroup, f), 'utf8');
  t.deepEqual(['pids.max', 'cpu.weight', 'cpu.max', 'memory.swap.max'].map(written), ['512\n', '100\n', 'max\n', '0\n'], `${at}: the cgroup's limits`);
  t.regex(written('cgroup.procs'), /^[1-9][0-9]*\n$/, `${at}: the run script's own pid, substituted into echo alone`);
  const launch = start.at(-1)!;
  t.is(launch.program, 's6-notifyoncheck', at);
  t.deepEqual(launch.args, lexedTail(path.join(service, 'run'), stubs.program('s6-notifyoncheck')), `${at}: the VMM's argv is the run script's words, unsubstituted`);
  t.deepEqual(vmmDataProblems(vmm, launch.args, vm, c), [], `${at}: data-dir strings in the VMM's argv`);
  t.deepEqual(sandboxProblems(vmm, stubs, launch.args, vm, c), [], `${at}: the drop, then the sandbox, then the VMM`);

  // The stop: a press per wait, each wait, then both kills.
  const press = requestCalls(vmm, stubs, facts.powerButton, vm);
  t.deepEqual(sorted(stop), sorted([
    ...PRESS_WAITS.flatMap(() => press),
    ...PRESS_WAITS.map((ms) => ({ program: 's6-svwait', args: ['-d', '-t', ms, '.'], stdin: null })),
    { program: 's6-svc', args: ['-K', '.'], stdin: null },
    { program: 's6-svwait', args: ['-d', '-t', '1000', '.'], stdin: null },
    { program: 's6-svc', args: ['-i', '.'], stdin: null },
  ]), `${at}: the stop presses this VM's power button, and only this VM's`);

  // The readiness check: asks this VM's VMM, attaches every link recorded for it again, then the guest's READY=1 where configured.
  // The records as the run script's mkdir (a stub here) and the links' ups leave them: root's, one per link, `mac=...`, read in glob order.
  const recorded = hotplug === null ? [] : [...provided, makeLink(0xbeef as LinkNumber, 'other' as VmName, vm.name as VmName)]
    .sort((a, b) => (linkHex(a.n) < linkHex(b.n) ? -1 : 1));
  if (hotplug !== null) {
    fs.mkdirSync(vm.records, { recursive: true, mode: 0o700 });
    for (const l of recorded) fs.writeFileSync(path.join(vm.records, linkHex(l.n)), recordOf(hotplug, l));
  }
  const check = await stubs.run(['./data/check'], service);
  t.is(check.code, 0, `${at}: readiness check`);
  const guest = guestReady && facts.guestReady.kind === 'request' ? requestCalls(vmm, stubs, facts.guestReady.read, vm) : [];
  const running = requestCalls(vmm, stubs, facts.running, vm);
  // elglob leaves its matches in the directory's order: each record's requests, in any order of the records.
  const relinks = hotplug === null ? [] : recorded.map((l) => attachCalls(vmm, stubs, hotplug, l, vm));
  const got = calls(check.calls);
  const perRecord = relinks[0]?.length ?? 0;
  const gotRelinks = Array.from({ length: relinks.length }, (_, i) => got.slice(running.length + i * perRecord, running.length + (i + 1) * perRecord));
  t.deepEqual(got.slice(0, running.length), running, `${at}: readiness check's request`);
  t.deepEqual(sortedGroups(gotRelinks), sortedGroups(relinks), `${at}: readiness check's re-attach of each recorded link, on its own socket, with each record's number and MAC`);
  t.deepEqual(got.slice(running.length + relinks.length * perRecord), guest, `${at}: readiness check's guest request`);
  if (hotplug !== null) fs.rmSync(vm.records, { recursive: true });

  // The finish script: takes back the grants, tells a left-behind VMM to quit; after a stop it clears the death tally, after a crash it counts it.
  // Its quit request is given up after 2 s of silence (pipeline/plan-vm.ts FINISH_QUIT_SILENCE_MS), to end before s6-supervise's 5 s.
  const quit = requestCalls(vmm, stubs, facts.quit, vm, '2000');
  for (const [wantedUp, last] of [['false', ['s6-svdt-clear', '.']], ['true', ['s6-permafailon', String(defaultOptions.crashWindowSeconds), String(defaultOptions.crashDeaths)]]] as const) {
    const finish = await stubs.run(['./finish', '0', '0'], service, { STUB_WANTEDUP: wantedUp });
    t.is(finish.code, 0, `${at}: finish`);
    // First the grants of what the VMM opens by path are taken back, each through the descriptor of a file the data-dir string names exactly (redirfd's open, or no setfacl),
    // before the quit request, which the VMM's socket may hold until s6-supervise kills the script.
    const revoke = grantedFds(path.join(service, 'run')).map((fd) => ['setfacl', '-x', `u:${vm.ids.vmm.kind === 'ids' ? vm.ids.vmm.uid : 'root'}`]);
    const namespace = revoke.length === 0 ? [] : [['unshare', '-m', '--propagation'], ['mount', '--bind', path.dirname(vm.dir)], ['mount', '-o', 'remount,bind,nosymfollow,nodev,nosuid,noexec']];
    const taken = namespace.length + revoke.length;
    t.deepEqual(finish.calls.slice(0, taken).map((k) => [k.program, ...k.args.slice(0, 2)]), [...namespace, ...revoke], `${at}: finish takes back the grants first`);
    // Then this VM's cgroup is emptied and removed, before the quit request, which runs as the VMM's uid outside it (test/system/cgroup-attack.test.ts).
    t.deepEqual(finish.calls.slice(taken, taken + 1).map((k) => [k.program, ...k.args.slice(0, 2)]), [['rmdir', '--', vm.cgroup]], `${at}: finish removes the cgroup first`);
    t.deepEqual(calls(finish.calls).slice(taken + 1, taken + 3), quit, `${at}: finish's quit request`);
    t.deepEqual(finish.calls.slice(taken + 3).map((k) => [k.program, ...k.args.slice(0, 2)]), [['s6-svstat', '-o', 'wantedup'], last], `${at}: finish, wanted up ${wantedUp}`);
    t.is(written('cgroup.kill'), '1\n', `${at}: finish kills what is left in this VM's cgroup`);
  }

  // The logger: its own log dir, exactly.
  const log = await stubs.run(['./run'], logger);
  const logFile = (f: string): Call => {
    const p = path.join(vm.log, f);
    return { program: 'test', args: ['-h', p, '-o', '-e', p, '-a', '!', '-O', p], stdin: null };
  };
  t.deepEqual(calls(log.calls), [
    { program: 'mkdir', args: ['-p', '-m', '0750', '--', vm.log], stdin: null },
    { program: 'chown', args: ['-h', '--', owner(vm.ids.log), vm.log], stdin: null },
    logUid,
    logFile('current'),
    logFile('lock'),
    logFile('state'),
    { program: 's6-log', args: ['-d', '3', '--', `n${defaultOptions.logMaxFiles}`, `s${defaultOptions.logMaxFileBytes}`, 'T', vm.log], stdin: null },
  ], `${at}: logger`);
}

/** The descriptors through which the run script grants the VMM's uid a file it opens by path (templates/common/open-files.hbs). */
function grantedFds(script: string): string[] {
  return [...fs.readFileSync(script, 'utf8').matchAll(/^if \{ \S*setfacl -b -m \S+ \/proc\/self\/fd\/(\d+) \}$/gm)].map((m) => m[1]!);
}

/** The words of a script from the last top-level `program` on, as the lexer (no substitution) gives them. */
function lexedTail(script: string, program: string): string[] {
  const lexed = lexExecline(fs.readFileSync(script, 'utf8'));
  if (!lexed.ok) throw new Error(`${script} does not lex: ${lexed.error}`);
  return lexed.argv.slice(lexed.argv.lastIndexOf(program) + 1);
}

/** Where each VMM takes the kernel, initramfs, command line, socket and disk (the templates' flags). */
function vmmDataProblems(vmm: Vmm, args: readonly string[], vm: VmPaths, c: Case): string[] {
  const cmdline = `${defaultOptions.cmdline} ${c.cmdline}`;
  const disk = path.join(vm.dir, 'blk', c.disk);
  const after = (flag: string): string | undefined => args[args.indexOf(flag) + 1];
  // The file root opens as descriptor N before the drop (redirfd -MODEnb N FILE, templates/common/open-files.hbs).
  const opened = (fd: number): string | undefined => args.find((_, i) => args[i - 3] === 'redirfd' && args[i - 1] === String(fd));
  const dataDir = path.dirname(vm.dir);
  // The mounts run in if blocks, whose words the lexer gives a leading space.
  const afterInBlock = (word: string): string | undefined => args[args.findIndex((a) => a.trimStart() === word) + 1]?.trimStart();
  const opens: Array<[string, string | undefined, string]> = [
    ['mount --bind', afterInBlock('--bind'), dataDir],
    ['mount -o remount', afterInBlock('remount,bind,nosymfollow,nodev,nosuid,noexec'), dataDir],
  ];
  const want: Array<[string, string | undefined, string]> = vmm === 'qemu'
    ? [
        ['-name', after('-name'), `guest=${vm.name}`],
        ['-kernel', after('-kernel'), path.join(vm.dir, 'vmlinux')],
        ['-initrd', after('-initrd'), path.join(vm.dir, 'initramfs')],
        ['-append', after('-append'), cmdline],
        ['-chardev', after('-chardev'), `socket,id=qmp,path=${vm.socket},server=on,wait=off`],
        ['-drive', after('-drive'), 'file=/dev/fdset/0,if=none,id=disk0,format=raw,readonly=on'],
        ['-add-fd', after('-add-fd'), 'fd=5,set=0'],
        ['fd 5', opened(5), disk],
        ...opens,
      ]
    : vmm === 'cloud-hypervisor'
      ? [
          ['--kernel', after('--kernel'), path.join(vm.dir, 'vmlinux')],
          ['--initramfs', after('--initramfs'), path.join(vm.dir, 'initramfs')],
          ['--cmdline=', args.find((a) => a.startsWith('--cmdline=')), `--cmdline=${cmdline}`],
          ['--api-socket', after('--api-socket'), `path=${vm.socket}`],
          ['--disk', after('--disk'), `path=${disk},readonly=on,image_type=raw`],
        ]
      : [
          ['kernel', args.at(-1), '/proc/self/fd/5'],
          ['fd 5', opened(5), path.join(vm.dir, 'vmlinux')],
          ['--initrd=', args.find((a) => a.startsWith('--initrd=')), '--initrd=/proc/self/fd/6'],
          ['fd 6', opened(6), path.join(vm.dir, 'initramfs')],
          ['--params=', args.find((a) => a.startsWith('--params=')), `--params=${cmdline}`],
          ['--socket', after('--socket'), vm.socket],
          ['--block', after('--block'), 'path=/proc/self/fd/7,ro=true'],
          ['fd 7', opened(7), disk],
          ...opens,
        ];
  return want.filter(([, got, expected]) => got !== expected).map(([flag, got, expected]) => `${flag}: ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
}

/**
 * The words s6-notifyoncheck execs after its options: the drop to the VMM's ids, bwrap with
 * its options up to --, then the VMM; among bwrap's options, the binds of
 * the VM's own runtime dir and of exactly its kernel, initramfs and disk,
 * each path one word as the data dir has it.
 */
function sandboxProblems(vmm: Vmm, stubs: Stubs, args: readonly string[], vm: VmPaths, c: Case): string[] {
  const problems: string[] = [];
  const bwrap = args.indexOf(stubs.program('bwrap'));
  const end = args.indexOf('--', bwrap);
  const { args: dropArgs } = drop(vm.ids.vmm);
  if (bwrap < 0 || end < 0) return [`no bwrap ... -- in ${JSON.stringify(args)}`];
  const before = args.slice(args.indexOf(stubs.program('s6-applyuidgid')), bwrap);
  if (JSON.stringify(before) !== JSON.stringify([stubs.program('s6-applyuidgid'), ...dropArgs])) problems.push(`before bwrap: ${JSON.stringify(before)}`);
  if (args[end + 1] !== stubs.program(VMM_FACTS[vmm].program)) problems.push(`after --: ${args[end + 1]}`);
  const options = args.slice(bwrap + 1, end);
  const bound = (how: string, p: string): boolean => options.some((w, i) => w === how && options[i + 1] === p && options[i + 2] === p);
  // What the VMM opens by path is bound; what root handed over as a descriptor is not shown at all.
  const { handover } = VMM_FACTS[vmm];
  const boot = [path.join(vm.dir, 'vmlinux'), path.join(vm.dir, 'initramfs')];
  const disk = path.join(vm.dir, 'blk', c.disk);
  for (const [file, byPath] of [...boot.map((f) => [f, handover.kernel === 'path'] as const), [disk, handover.disks === 'path'] as const]) {
    if (bound('--ro-bind', file) !== byPath) problems.push(`${byPath ? 'no' : 'a'} --ro-bind of ${JSON.stringify(file)}`);
  }
  if (!bound('--bind', vm.runtime)) problems.push(`no --bind of ${JSON.stringify(vm.runtime)}`);
  // The VMM's program dir (a stub here) and crosvm's pivot root are the only other paths.
  const other = options.filter((w, i) => (options[i - 1] === '--bind' || options[i - 1] === '--ro-bind') && ![vm.dir, vm.runtime, stubs.dir, path.dirname(vm.runtime)].some((d) => w.startsWith(d)) && w !== '/usr');
  if (other.length > 0) problems.push(`other binds: ${JSON.stringify(other)}`);
  return problems;
}

/** The provider side of `l`, as the VMM is asked to attach or detach it. */
const nicOf = (l: Link): { hex: string; tap: string; mac: string } => ({ hex: linkHex(l.n), tap: l.providerTap, mac: l.providerMac });

type Hotplug = Extract<NetHotplug, { kind: 'api' }>;

/** Root's record of `l` as its up writes it: its MAC, and the slots to try where the VMM must be told one. */
const recordOf = (hotplug: Hotplug, l: Link): string => `mac=${l.providerMac}\n${hotplug.place === null ? '' : `slots=${hotplug.place.slots(l.n).join(' ')}\n`}`;

/**
 * An attach of `l` that the stubs see through, on the provider's socket as its
 * VMM: asked whether it is there (not yet), the adds, the first slot (the
 * stub takes it), asked again (there now).
 */
function attachCalls(vmm: Vmm, stubs: Stubs, hotplug: Hotplug, l: Link, vm: Pick<VmPaths, 'socket' | 'ids'>): Call[] {
  const nic = nicOf(l);
  const r = (q: VmmRequest): Call[] => requestCalls(vmm, stubs, q, vm);
  return [
    ...r(hotplug.present(nic)),
    ...hotplug.add(nic).flatMap(r),
    ...(hotplug.place === null ? [] : r(hotplug.place.request(nic, hotplug.place.slots(l.n)[0]!))),
    ...r(hotplug.present(nic)),
  ];
}

/**
 * A link's up, then its down, run as s6-rc runs them (one lexed command line,
 * no substitution): their ip calls word for word; with a VMM that hot-plugs,
 * the record root writes in the provider's records dir (the run script's
 * mkdir, a stub here, is done first), the attach and detach requests on the
 * provider's socket as the provider's VMM uid, and the record's removal.
 */
async function checkLinkScripts(t: ExecutionContext, vmm: Vmm, stubs: Stubs, execlineb: string, service: string, l: Link, provider: VmPaths): Promise<void> {
  const hotplug = VMM_FACTS[vmm].netHotplug.kind === 'api' ? VMM_FACTS[vmm].netHotplug : null;
  const at = `${vmm} link ${JSON.stringify(l.client)} -> ${JSON.stringify(l.provider)}`;
  const record = path.join(provider.records, linkHex(l.n));
  const temp = path.join(provider.records, `.${linkHex(l.n)}`);
  if (hotplug !== null) fs.mkdirSync(provider.records, { recursive: true, mode: 0o700 });
  for (const file of ['up', 'down'] as const) {
    const script = path.join(service, file);
    const r = await stubs.run([execlineb, '-P', script], service);
    t.is(r.code, 0, `${at}: ${file}`);
    const ipCalls = (k: readonly Call[]): string[][] => k.filter((c) => c.program === 'ip').map((c) => [c.program, ...c.args]);
    t.deepEqual(ipCalls(r.calls), ipCallsOf(script, stubs.program('ip')).map((a) => ['ip', ...a]), `${at}: ${file}'s ip calls`);
    if (hotplug === null) {
      t.deepEqual(r.calls.filter((c) => c.program !== 'ip'), [], `${at}: ${file} runs ip only`);
      continue;
    }
    const others = calls(r.calls.filter((c) => c.program !== 'ip'));
    if (file === 'up') {
      t.deepEqual(others, [
        { program: 'mkdir', args: ['-p', '-m', '0700', '--', provider.records], stdin: null },
        ...attachCalls(vmm, stubs, hotplug, l, provider),
      ], `${at}: up records the link in the provider's records, then attaches it on the provider's socket as its VMM`);
      t.is(fs.readFileSync(record, 'utf8'), recordOf(hotplug, l), `${at}: the record, at the link's number, holds its MAC (and its slots)`);
      t.false(fs.existsSync(temp), `${at}: the record was written whole, then renamed`);
    } else {
      t.deepEqual(others, [
        { program: 'rm', args: ['-f', '--', record, temp], stdin: null },
        ...hotplug.detach(nicOf(l)).flatMap((q) => requestCalls(vmm, stubs, q, provider)),
      ], `${at}: down removes the record, then detaches the link on the provider's socket as its VMM`);
    }
  }
  if (hotplug !== null) fs.rmSync(provider.records, { recursive: true });
}

/** The ip calls a link script makes, as the lexer (no substitution) gives its words: each runs to the end of its block (a word of spaces only) or of the line. */
function ipCallsOf(file: string, ip: string): string[][] {
  const lexed = lexExecline(fs.readFileSync(file, 'utf8'));
  if (!lexed.ok) throw new Error(`${file} does not lex`);
  return lexed.argv.flatMap((w, i) => {
    if (w.trimStart() !== ip) return [];
    const rest = lexed.argv.slice(i + 1);
    const end = rest.findIndex((x) => x.trim() === '');
    return [(end < 0 ? rest : rest.slice(0, end)).map((x) => x.trimStart())];
  });
}
