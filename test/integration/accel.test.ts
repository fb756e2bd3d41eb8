/**
 * --accel: how guests run. QEMU gets exactly the accelerators asked for, in
 * order; a VMM that has only KVM refuses the others. The QEMU run script is
 * run for real under Debian's s6-supervise and execline, with a stub VMM on
 * PATH.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { vmsvc } from '../support/cli.js';
import { dataDirWith } from '../support/data-dir.js';
import { installStubVmm, recordedArgv } from '../support/stub-vmm.js';
import { waitFor } from '../support/wait.js';

/**
 * Supervises a copy of a longrun with Debian's s6-supervise until the service
 * is ready (s6-notifyoncheck needs its supervisor); returns the VMM's argv.
 */
async function argvWhenReady(serviceDir: string, runtimeDir: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const dir = `${serviceDir}.supervised`;
  fs.cpSync(serviceDir, dir, { recursive: true });
  const supervise = spawn('s6-supervise', [dir], { env, stdio: 'ignore' });
  try {
    // s6-svwait fails at once (111) on a service whose supervisor has not made its event dir yet.
    await waitFor(`s6-supervise to set up ${dir}`, () => fs.existsSync(path.join(dir, 'event')) && fs.existsSync(path.join(dir, 'supervise', 'status')), 30_000);
    await new Promise<void>((resolve, reject) => {
      const wait = spawn('s6-svwait', ['-U', '-t', '30000', dir], { env, stdio: 'ignore' });
      wait.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${dir} not ready: s6-svwait -U -t 30000 exited ${code}`))));
    });
    return recordedArgv(runtimeDir);
  } finally {
    await new Promise((resolve) => {
      supervise.once('exit', resolve);
      spawn('s6-svc', ['-dx', dir], { env, stdio: 'ignore' });
    });
  }
}

const accels = (argv: readonly string[]): string[] => argv.flatMap((a, i) => (argv[i - 1] === '-accel' ? [a] : []));

for (const [flag, expected] of [[null, ['kvm']], ['kvm', ['kvm']], ['tcg', ['tcg']], ['kvm-or-tcg', ['kvm', 'tcg']]] as const) {
  test(`--vmm qemu ${flag === null ? '(no --accel)' : `--accel ${flag}`}: QEMU gets -accel ${expected.join(' -accel ')}`, async (t) => {
    const { root, data } = dataDirWith({ solo: {} });
    t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
    const out = path.join(root, 'out');
    const run = path.join(root, 'run');
    const bin = path.join(root, 'bin');
    const stub = installStubVmm(bin, 'qemu-system-x86_64');
    const r = vmsvc(['generate', '--vmm', 'qemu', '--vmm-bin', stub, ...(flag === null ? [] : ['--accel', flag]), '--data', data, '--out', out,
      '--runtime-dir', run, '--log-dir', path.join(root, 'log'), '--execlineb', '/usr/bin/execlineb']);
    t.is(r.code, 0, r.stderr);
    const env = { ...process.env, PATH: `${bin}:/usr/lib/execline/bin:${process.env.PATH ?? ''}` };
    t.deepEqual(accels(await argvWhenReady(path.join(out, 'vm-solo'), path.join(run, 'solo'), env)), [...expected]);
  });
}

for (const vmm of ['cloud-hypervisor', 'crosvm'] as const) {
  for (const accel of ['tcg', 'kvm-or-tcg'] as const) {
    test(`--vmm ${vmm} --accel ${accel} is refused: it runs guests only with KVM`, (t) => {
      const { root, data } = dataDirWith({ solo: {} });
      t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
      const r = vmsvc(['check', '--vmm', vmm, '--no-user-console', '--accel', accel, '--data', data]);
      t.is(r.code, 1);
      t.true(r.stderr.includes(`error[vmm-unsupported]: ${vmm} runs guests only with kvm; --accel ${accel} is not one of them`), r.stderr);
    });
  }
}

test('--accel takes only kvm, tcg or kvm-or-tcg', (t) => {
  const { root, data } = dataDirWith({ solo: {} });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const r = vmsvc(['check', '--vmm', 'qemu', '--accel', 'hvf', '--data', data]);
  t.is(r.code, 100);
  t.regex(r.stderr, /accel/);
});
