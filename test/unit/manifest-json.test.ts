import test from 'ava';
import { makeLink, type LinkNumber } from '../../generator/pipeline/links.js';
import type { Manifest } from '../../generator/pipeline/manifest.js';
import { manifestJson } from '../../generator/pipeline/render.js';
import type { VmName } from '../../generator/rules/vm-name.js';

const vm = (name: string): Manifest['vms'][number] => ({
  name,
  source: `/d/${name}`,
  services: { vm: `vm-${name}`, logger: `vm-${name}-log`, pipeline: `vm-${name}-pipeline` },
  kernel: `/d/${name}/vmlinux`,
  initramfs: null,
  disks: [],
  providers: ['p\n"q"\u2028'],
  links: { asClient: [1, 2], asProvider: [] },
  runtimeDir: `/run/vm/${name}`,
  controlSocket: `/run/vm/${name}/api.sock`,
  consoleSocket: null,
  logDir: `/var/log/vm/${name}`,
  settings: { memory: '512M', cpus: 2, cmdlineExtra: 'quiet "x"', writableDisks: false, stopTimeoutMs: 30000, guestReady: false, autostart: true, cpuWeight: 100, cpuMaxPercent: null, pidsMax: 512, swapMax: '0' },
  settingFiles: ['memory', 'cpus', 'cmdline', 'autostart'],
  cgroup: null,
});

const manifest = (vms: Manifest['vms'], links: Manifest['links'], skipped: Manifest['skipped']): Manifest => ({
  generator: 'vmsvc', formatVersion: 1, dataDir: '/d', bundle: 'vms', vmm: 'cloud-hypervisor', vms, links, skipped,
});

test('the streamed manifest is JSON.stringify(manifest, null, 2) and a newline, with empty and full lists', (t) => {
  const link = makeLink(258 as LinkNumber, 'a' as VmName, 'b' as VmName);
  for (const m of [
    manifest([], [], []),
    manifest([vm('a'), vm('\u{1F600}é')], [link, link], [
      { name: 'x', reason: 'invalid (vmlinux-missing)', needs: null, problems: [{ rule: 'vmlinux-missing', path: '/d/x/vmlinux' }] },
      { name: 'y', reason: 'needs provider x, which is skipped', needs: 'x', problems: [] },
    ]),
  ]) {
    t.is([...manifestJson(m)].join(''), `${JSON.stringify(m, null, 2)}\n`);
  }
});
