/**
 * The readiness check each VMM gets (data/check): the request that asks the
 * VMM whether the VM runs, pinned word by word against the upstream source it
 * follows, and guest readiness where a VMM can carry it and refused where it
 * cannot. test/system/readiness.test.ts runs these checks under the real s6-rc.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { vmsvc } from '../support/cli.js';
import { dataDirWith } from '../support/data-dir.js';
import { lexExecline } from '../../generator/s6rc/execline-lex.js';
import { checkTree } from '../../generator/pipeline/check.js';
import { defaultOptions } from '../../generator/pipeline/options.js';
import { planTree } from '../../generator/pipeline/plan.js';
import { scanDataDir } from '../../generator/pipeline/scan.js';
import { loadTemplates } from '../../generator/pipeline/templates.js';
import { VMM_FACTS, VMMS } from '../../generator/vmm/index.js';

function generated(t: { teardown: (fn: () => void) => void }, args: readonly string[]): { out: string; code: number; stderr: string; data: string } {
  const { root, data } = dataDirWith({ solo: {} });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const out = path.join(root, 'out');
  const r = vmsvc(['generate', '--data', data, '--out', out, '--runtime-dir', '/run/vm', '--no-user-console', ...args]);
  return { out, code: r.code, stderr: r.stderr, data };
}

/** A block as execlineb passes it on: each word prefixed with a space, then an empty word. */
const block = (...words: string[]): string[] => [...words.map((w) => ` ${w}`), ''];

/**
 * Every check starts by sending its stderr to /dev/null: until the VMM
 * answers each probe fails, ten times a second, and its client's complaints
 * would fill the catch-all log.
 */
const QUIET = ['redirfd', '-w', '2', '/dev/null'];

/**
 * Every request is SIGKILLed after 10 s, however its VMM trickles a reply
 * (pipeline/vmm-request.ts), as the VMM's own uid and gid, with no
 * supplementary group: VM solo's, slot 23994 of the default range
 * (0x70000000 + 2 x 23994).
 */
const LIMIT = ['timeout', '-s', 'KILL', '10', 's6-applyuidgid', '-u', '1879096180', '-g', '1879096180', '-G', ''];

/** A reply is read through head -c: a VMM that floods it costs 64 KiB. */
const HEAD = ['head', '-c', '65536'];

/**
 * A VMM that hot-plugs links: the running request goes in an `if`, then
 * every link root recorded for the VM as a provider is attached again
 * (templates/common/ready-check.hbs), the loop's variables bound before the
 * socket, which comes last from the environment; then `exit 0`. The head of
 * that loop, up to the attach request, whose words test/system/execline-substitution.test.ts
 * runs and checks.
 */
function withRelink(t: ExecutionContext, words: readonly string[], running: readonly string[], socket: string, slots: boolean): void {
  const head = [
    ...QUIET, 'if', ...block(...running),
    // No record dir (the run script makes it) is no link: the blocks of ifelse are nested in the if's.
    'if', ' ifelse', ' -n', '  eltest', '  -d', '  /run/vm/.links/solo', ' ', '  exit', '  0', ' ',
    ...block('export', 'vmsvc_sock', socket, 'cd', '/run/vm/.links/solo', 'elglob', '-0', 'vmsvc_links', '*',
      'forx', '-E', '-o', '0', 'vmsvc_link', ...block('${vmsvc_links}'),
      'envfile', '${vmsvc_link}', 'importas', '-iu', 'vmsvc_mac', 'mac', ...(slots ? ['importas', '-isu', 'vmsvc_slots', 'slots'] : []),
      // templates/common/hotplug-attach.hbs: first, whether the NIC is there, on the socket bound last.
      'ifelse').slice(0, -1),
    '  importas', '  -i', '  vmsvc_sock', '  vmsvc_sock',
  ];
  t.deepEqual(words.slice(0, head.length), head);
  t.false(words.slice(head.length).includes(` ${socket}`), 'the socket path is not written in the loop, where forx and importas substitute');
  t.true(words.slice(head.length).some((w) => w.trim() === '${vmsvc_sock}' || w.includes('--api-socket')), 'the attach names the socket by its variable');
  t.deepEqual(words.slice(-2), ['exit', '0']);
}

/** The check's argv as execlineb runs it (comments gone, blocks encoded). */
function checkWords(out: string): string[] {
  const lexed = lexExecline(fs.readFileSync(path.join(out, 'vm-solo', 'data', 'check'), 'utf8'));
  if (!lexed.ok) throw new Error(lexed.error);
  return lexed.argv;
}

test('qemu: the check sends qmp_capabilities and query-status over QMP and wants "status": "running"', (t) => {
  const g = generated(t, ['--vmm', 'qemu']);
  t.is(g.code, 0, g.stderr);
  // QMP spec: capabilities negotiation first (docs/interop/qmp-spec.rst); StatusInfo's
  // status is a RunState, "running" only while the vCPUs run (qapi/run-state.json).
  withRelink(t, checkWords(g.out), [
    'backtick', '-E', 'vmsvc_reply', ...block(
      'pipeline', ...block(
        'heredoc', '0', '{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n',
        ...LIMIT, 's6-ipcclient', '-q', '/run/vm/solo/qmp.sock', 's6-ioconnect', '-t', '5000'),
      ...HEAD),
    'case', '--', '${vmsvc_reply}', ...block('.*(\\{"return": \\{[^}]*"status": "running").*', ...block('exit', '0')),
    'exit', '1',
  ], '/run/vm/solo/qmp.sock', true);
  // The probe is bounded: s6-notifyoncheck kills one that runs 10 s.
  t.regex(fs.readFileSync(path.join(g.out, 'vm-solo', 'run'), 'utf8'), /s6-notifyoncheck -d -w 100 -n 0 -t 10000 -T 60000/);
});

test('cloud-hypervisor: the check runs ch-remote info and wants the top-level "state":"Running"', (t) => {
  const g = generated(t, ['--vmm', 'cloud-hypervisor', '--ch-remote', '/opt/ch/ch-remote']);
  t.is(g.code, 0, g.stderr);
  // cloud-hypervisor v53.0: ch-remote.rs:309-310 "info" -> GET vm.info; api_client/src/lib.rs:194 prints
  // the body; http_endpoint.rs:629 serde_json::to_string (compact) of VmInfoResponse, whose fields
  // are config, state, memory_actual_size in that order (vmm/src/api/mod.rs:223-228); vm.rs:406 VmState.
  withRelink(t, checkWords(g.out), [
    'backtick', '-E', 'vmsvc_reply', ...block('pipeline', ...block(...LIMIT, '/opt/ch/ch-remote', '--api-socket', '/run/vm/solo/api.sock', 'info'), ...HEAD),
    'case', '--', '${vmsvc_reply}', ...block('.*("state":"Running","memory_actual_size":).*', ...block('exit', '0')),
    'exit', '1',
  ], '/run/vm/solo/api.sock', false);
});

test('crosvm: the check is `crosvm resume SOCKET`, judged by its exit status', (t) => {
  const g = generated(t, ['--vmm', 'crosvm', '--vmm-bin', '/opt/crosvm/crosvm']);
  t.is(g.code, 0, g.stderr);
  // crosvm f1e797a6: src/crosvm/cmdline.rs:296-305 ResumeCommand (positional VM_SOCKET,
  // "No-op if already running", upstream's way to wait until commands are processed);
  // src/main.rs:212-218 resume_vms -> vms_request, which fails when nothing answers.
  t.deepEqual(checkWords(g.out), [...QUIET, ...LIMIT, '/opt/crosvm/crosvm', 'resume', '/run/vm/solo/control.sock']);
});

test('guest readiness with qemu: a 64-byte ringbuf behind the port org.vmsvc.ready, read over QMP after query-status', (t) => {
  const g = generated(t, ['--vmm', 'qemu', '--guest-ready']);
  t.is(g.code, 0, g.stderr);
  const run = fs.readFileSync(path.join(g.out, 'vm-solo', 'run'), 'utf8');
  // Without the user console the port still needs a virtio-serial bus.
  t.regex(run, /\n {2}-device virtio-serial-pci\n {2}-chardev ringbuf,id=vmsvc-ready,size=64\n {2}-device virtserialport,chardev=vmsvc-ready,name=org\.vmsvc\.ready\n/);
  const words = checkWords(g.out);
  t.deepEqual(words.slice(0, QUIET.length + 1), [...QUIET, 'if']);
  // query-status first, inside if: a READY=1 is consumed only by a probe that already saw the VM run.
  const status = words.indexOf('   {"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n');
  const ringbuf = words.indexOf('  {"execute":"qmp_capabilities"}\n{"execute":"ringbuf-read","arguments":{"device":"vmsvc-ready","size":64,"format":"utf8"}}\n');
  t.true(status > 0 && ringbuf > status, `${status} ${ringbuf}`);
  t.true(words.includes(' .*(\\{"return": "[^"]*READY=1\\\\n).*'));
  t.deepEqual(words.slice(-2), ['exit', '1']);
  // Without guest readiness there is no port and no ringbuf-read.
  const plain = generated(t, ['--vmm', 'qemu']);
  t.false(fs.readFileSync(path.join(plain.out, 'vm-solo', 'run'), 'utf8').includes('ringbuf'));
  t.false(checkWords(plain.out).some((w) => w.includes('ringbuf-read')));
});

for (const vmm of ['cloud-hypervisor', 'crosvm'] as const) {
  test(`guest readiness with ${vmm} is vmm-unsupported: --guest-ready once for the data dir, saying why`, (t) => {
    const g = generated(t, ['--vmm', vmm, '--guest-ready']);
    t.is(g.code, 1);
    t.regex(g.stderr, new RegExp(`${g.data}: error\\[vmm-unsupported\\]: --guest-ready: ${vmm} `));
    t.false(fs.existsSync(g.out));
  });
}

test('every declared expectation can stand in the command line after the reply is substituted: no $, no newline', (t) => {
  for (const vmm of VMMS) {
    const caps = VMM_FACTS[vmm];
    const requests = [caps.running, ...(caps.guestReady.kind === 'request' ? [caps.guestReady.read] : [])];
    for (const r of requests) {
      if (r.expect === null) continue;
      t.false(/[$\n]/.test(r.expect), `${vmm}: ${r.expect}`);
      t.notThrows(() => new RegExp(r.expect!), vmm);
    }
  }
});

test('a probe that fails before the VMM answers writes nothing to the catch-all log', (t) => {
  const { root } = dataDirWith({});
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  // cloud-hypervisor's ch-remote, before the API socket exists, complains on stderr and fails.
  const chRemote = path.join(root, 'ch-remote');
  fs.writeFileSync(chRemote, '#!/bin/sh\necho "Error: Connection refused (os error 111)" >&2\nexit 1\n', { mode: 0o755 });
  for (const args of [['--vmm', 'cloud-hypervisor', '--ch-remote', chRemote], ['--vmm', 'qemu'], ['--vmm', 'qemu', '--guest-ready']]) {
    const g = generated(t, [...args, '--execlineb', '/usr/bin/execlineb']);
    t.is(g.code, 0, g.stderr);
    const r = spawnSync('/usr/bin/execlineb', ['-P', path.join(g.out, 'vm-solo', 'data', 'check')], {
      encoding: 'utf8', env: { PATH: `/usr/lib/execline/bin:${process.env.PATH ?? '/usr/bin:/bin'}` },
    });
    t.true(r.status !== null && r.status !== 0, `${args.join(' ')}: not ready (exit ${String(r.status)})`);
    t.is(r.stderr, '', `${args.join(' ')}: silent`);
  }
});

/**
 * The check's data carries only what the bundled check reads: its control
 * socket went (twice), as the check reaches the VMM through its requests,
 * whose argv names the socket (the word-by-word tests above). A field no
 * bundled template reads is one nothing keeps right.
 */
test('the bundled check reads every field of its data, and the socket only inside its requests', (t) => {
  const { root, data } = dataDirWith({ solo: {} });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  for (const vmm of VMMS) {
    const options = { ...defaultOptions, vmm, userConsole: false, settings: { ...defaultOptions.settings, guestReady: VMM_FACTS[vmm].guestReady.kind === 'request' } };
    const result = checkTree(scanDataDir(data), options);
    const vm = [...planTree(data, result.vms, result, options).services].find((s) => s.name === 'vm-solo');
    const check = vm?.type === 'longrun' ? vm.data.get('check') : undefined;
    if (check?.template !== 'ready-check') return t.fail(`${vmm}: no ready check planned: ${result.diagnostics.map((d) => d.rule).join(', ')}`);
    const read = new Set<string | symbol>();
    const watched = new Proxy(check.data, {
      get(target, key, receiver) {
        read.add(key);
        return Reflect.get(target, key, receiver);
      },
    });
    const script = loadTemplates(null, vmm).render({ template: 'ready-check', data: watched });
    t.deepEqual([...read].filter((k) => k in check.data).sort(), Object.keys(check.data).sort(), vmm);
    t.true(script.includes(`/run/vm/solo/${VMM_FACTS[vmm].controlSocket}`), `${vmm}: the check asks the VMM on its socket`);
  }
});
