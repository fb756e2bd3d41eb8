/**
 * Attacks on a VM's cgroup by its own VMM user, on this machine's cgroup v2
 * hierarchy (/sys/fs/cgroup/unified: no controllers, but cgroup.procs,
 * cgroup.kill, mkdir and rmdir work, which is all the finish script uses).
 * The generated finish script runs under the real execlineb, its programs
 * stubbed (test/support/recording-stubs.ts) but for rmdir and timeout.
 *
 * The finish script's quit request runs as the VMM's user (s6-applyuidgid,
 * then the VMM's client), outside the VM's cgroup: s6-supervise starts the
 * finish script in its own. A process of the VMM's uid may ptrace it, or
 * write its memory through /proc/PID/mem: same uid, dumpable again after
 * its exec, no capability (checked by hand on this machine: PTRACE_ATTACH
 * and an O_RDWR open of /proc/PID/mem by uid 54321 of a `sleep` that
 * s6-applyuidgid started as 54321 both succeed). So a VMM still alive when
 * the request starts can make the client start a process outside the
 * cgroup, of its uid, under no limit, that the finish script's cgroup.kill
 * never reaches: it outlives the stop. The attacker below stands for that
 * VMM; the client stub, for the client it takes over: the client runs
 * whatever the attacker hands it once it is there (what an injection
 * would make it run).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultOptions, type GeneratorOptions } from '../../generator/pipeline/options.js';
import { generate } from '../../generator/pipeline/index.js';
import { VMM_FACTS } from '../../generator/vmm/index.js';
import { makeVm, tempDir } from '../support/data-dir.js';
import { makeStubs } from '../support/recording-stubs.js';
import { waitFor } from '../support/wait.js';
import { alive } from '../support/processes.js';

const UNIFIED = '/sys/fs/cgroup/unified';
const EXECLINE_BIN = '/usr/bin';
const usable = process.getuid?.() === 0 && fs.existsSync(path.join(UNIFIED, 'cgroup.procs'))
  && fs.existsSync(path.join(UNIFIED, 'cgroup.subtree_control')) && kernelHasCgroupKill();
const maybe = usable ? test.serial : test.serial.skip;

function kernelHasCgroupKill(): boolean {
  const probe = path.join(UNIFIED, `vmsvc-probe-${process.pid}`);
  try {
    fs.mkdirSync(probe);
    return fs.existsSync(path.join(probe, 'cgroup.kill'));
  } catch {
    return false;
  } finally {
    try { fs.rmdirSync(probe); } catch { /* not made */ }
  }
}

/**
 * The client stub: says it is there (its pid), waits up to 2 s for what the
 * attacker hands it, and runs that in a session of its own; else it fails,
 * as a client whose VMM is gone does.
 */
const CLIENT = `#!/bin/sh
echo $$ > "$ATTACK/client.tmp" && mv "$ATTACK/client.tmp" "$ATTACK/client"
i=0
while [ $i -lt 20 ]; do
  if [ -f "$ATTACK/inject" ]; then
    setsid sh "$ATTACK/inject" </dev/null >/dev/null 2>&1 &
    sleep 0.3
    exit 1
  fi
  sleep 0.1
  i=$((i + 1))
done
exit 1
`;

/** The VMM its guest took over, in the VM's cgroup: waits for the client, then hands it a process that records its pid and cgroup and stays. */
const ATTACKER = `#!/bin/sh
echo $$ > "$CGROUP/cgroup.procs"
echo $$ > "$ATTACK/attacker"
while [ ! -f "$ATTACK/client" ]; do sleep 0.05; done
printf '%s\\n' 'cat /proc/self/cgroup > "$ATTACK/escaped.cgroup"' 'echo $$ > "$ATTACK/escaped.tmp"' 'mv "$ATTACK/escaped.tmp" "$ATTACK/escaped"' 'exec sleep 600' > "$ATTACK/inject.tmp"
mv "$ATTACK/inject.tmp" "$ATTACK/inject"
exec sleep 600
`;

/** A generated VM whose cgroup is a real one below a parent of this test's own, and its finish script's stubs. */
function setUp(root: string, parent: string) {
  const data = path.join(root, 'data');
  makeVm(data, 'esc');
  const stubs = makeStubs(root, EXECLINE_BIN, VMM_FACTS['cloud-hypervisor'].program, { stubPathPrograms: false });
  // ch-remote is the cloud-hypervisor client the quit request runs.
  fs.rmSync(stubs.program('ch-remote'));
  fs.writeFileSync(stubs.program('ch-remote'), CLIENT, { mode: 0o755 });
  const p = (name: string): string => stubs.program(name);
  const opts: GeneratorOptions = {
    ...defaultOptions,
    vmm: 'cloud-hypervisor',
    programs: {
      ...defaultOptions.programs,
      vmm: p('cloud-hypervisor'), execlineb: path.join(EXECLINE_BIN, 'execlineb'), s6Log: p('s6-log'), s6Notifyoncheck: p('s6-notifyoncheck'),
      s6Ipcclient: p('s6-ipcclient'), s6Ioconnect: p('s6-ioconnect'), chRemote: p('ch-remote'), ip: p('ip'), s6Setuidgid: p('s6-setuidgid'),
      s6Applyuidgid: p('s6-applyuidgid'), s6Permafailon: p('s6-permafailon'), s6Svc: p('s6-svc'), s6Svwait: p('s6-svwait'), s6Svstat: p('s6-svstat'),
      s6SvdtClear: p('s6-svdt-clear'), unshare: p('unshare'), mount: p('mount'), setfacl: p('setfacl'), bwrap: p('bwrap'),
    },
    runtimeDir: path.join(root, 'run'),
    logDir: path.join(root, 'log'),
    cgroup: parent,
  };
  const out = path.join(root, 'out');
  const outcome = generate(data, out, opts, false);
  if (outcome.kind !== 'done') throw new Error(`check refused the VM: ${JSON.stringify(outcome.check.diagnostics)}`);
  return { stubs, service: path.join(out, 'vm-esc'), cgroup: path.join(parent, 'vm-esc') };
}

/** A temp dir and a cgroup parent of this test's own, and the pids it starts: all gone after it, whatever it left. */
function scratch(t: ExecutionContext, what: string): { root: string; parent: string; pids: number[] } {
  const root = tempDir('vmsvc-cgroup-attack-');
  const parent = path.join(UNIFIED, `vmsvc-${what}-${process.pid}`);
  fs.mkdirSync(parent);
  const pids: number[] = [];
  t.teardown(async () => {
    for (const pid of pids) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    const dirs = [path.join(parent, 'vm-esc'), parent];
    for (const dir of dirs) try { fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1'); } catch { /* gone */ }
    await new Promise((r) => setTimeout(r, 300));
    for (const dir of dirs) try { fs.rmdirSync(dir); } catch { /* gone */ }
    fs.rmSync(root, { recursive: true, force: true });
  });
  return { root, parent, pids };
}

maybe('a VMM alive when the finish script asks it to quit cannot have the request start a process outside its cgroup that outlives the stop', async (t) => {
  const { root, parent, pids } = scratch(t, 'attack');
  const { stubs, service, cgroup } = setUp(root, parent);
  const attack = path.join(root, 'attack');
  fs.mkdirSync(attack);
  // The run script made the cgroup; the VMM (the attacker) is in it.
  fs.mkdirSync(cgroup);
  fs.writeFileSync(path.join(attack, 'attacker.sh'), ATTACKER, { mode: 0o755 });
  const attacker = spawn('/bin/sh', [path.join(attack, 'attacker.sh')], { env: { ...process.env, ATTACK: attack, CGROUP: cgroup }, stdio: 'ignore', detached: true });
  pids.push(attacker.pid!);
  await waitFor('the attacker in the VM\'s cgroup', () => fs.existsSync(path.join(attack, 'attacker')), 10_000, 20);
  t.true(fs.readFileSync(path.join(cgroup, 'cgroup.procs'), 'utf8').split('\n').includes(String(attacker.pid)), 'the attacker runs in the VM\'s cgroup');

  const finish = await stubs.run(['./finish', '256', '9'], service, { ATTACK: attack, STUB_WANTEDUP: 'false' });
  t.is(finish.code, 0);
  const escaped = fs.existsSync(path.join(attack, 'escaped')) ? Number(fs.readFileSync(path.join(attack, 'escaped'), 'utf8')) : null;
  if (escaped !== null) pids.push(escaped);
  // Let a SIGKILL land.
  await new Promise((r) => setTimeout(r, 200));
  t.false(escaped !== null && alive(escaped),
    `a process the VMM had the quit request start (pid ${escaped}, in ${fs.existsSync(path.join(attack, 'escaped.cgroup')) ? fs.readFileSync(path.join(attack, 'escaped.cgroup'), 'utf8').trim() : '?'}) outlived the finish script`);
  t.false(alive(attacker.pid!), 'the VMM itself is killed with its cgroup');
  t.false(fs.existsSync(cgroup), 'and the cgroup removed');
});

maybe('control: what runs in the VM\'s cgroup when the finish script runs is killed, and the cgroup removed', async (t) => {
  const { root, parent, pids } = scratch(t, 'control');
  const { stubs, service, cgroup } = setUp(root, parent);
  fs.mkdirSync(cgroup);
  // A daemon of the VMM that left its session, in the VM's cgroup.
  const daemon = spawn('/bin/sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec sleep 600`], { stdio: 'ignore', detached: true });
  pids.push(daemon.pid!);
  await waitFor('the daemon in the VM\'s cgroup', () => fs.readFileSync(path.join(cgroup, 'cgroup.procs'), 'utf8').trim() !== '', 10_000, 20);
  const finish = await stubs.run(['./finish', '256', '9'], service, { ATTACK: root, STUB_WANTEDUP: 'false' });
  t.is(finish.code, 0);
  await new Promise((r) => setTimeout(r, 200));
  t.false(alive(daemon.pid!), 'the daemon is killed');
  t.false(fs.existsSync(cgroup), 'the cgroup is removed');
});
