/**
 * pipeline/sandbox.ts sandboxShows, what check --host judges the VMM's
 * place by (host-vmm-hidden), is what sandboxData binds: every read-only
 * bind and every link of a sandbox with no VM's files, and nothing else.
 */
import test from 'ava';
import { sandboxData, sandboxShows } from '../../generator/pipeline/sandbox.js';

/** [at, host] of each --ro-bind and --symlink of the sandbox for `vmm`, with no files and no pivot root. */
function bound(vmm: string): string[] {
  const box = sandboxData({ bwrap: 'bwrap', vmm, makesUserNamespaces: false, runtimeDir: '/run/vmsvc/vm', sandboxRoot: null, files: [], kvm: true, tun: true });
  return box.options.flatMap((line) => {
    const out: string[] = [];
    for (let i = 0; i < line.length; i++) {
      if (line[i] === '--ro-bind') out.push(`${line[i + 2]!} <- ${line[i + 1]!}`);
      if (line[i] === '--symlink') out.push(`${line[i + 2]!} <- /${line[i + 1]!}`);
    }
    return out;
  }).sort();
}

test('sandboxShows is the read-only binds and the links of the sandbox, for a VMM by name, below /usr, or elsewhere by absolute path', (t) => {
  for (const vmm of ['cloud-hypervisor', '/usr/local/bin/cloud-hypervisor', '/bin/qemu-system-x86_64', '/opt/ch/bin/cloud-hypervisor', '/crosvm']) {
    t.deepEqual(sandboxShows(vmm).map((s) => `${s.at} <- ${s.host}`).sort(), bound(vmm), vmm);
  }
  t.true(sandboxShows('/opt/ch/bin/cloud-hypervisor').some((s) => s.at === '/opt/ch/bin'));
  t.false(sandboxShows('cloud-hypervisor').some((s) => !s.host.startsWith('/usr')));
});
