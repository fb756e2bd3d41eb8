/**
 * A corpus of hostile or broken data directories. Each case builds one data dir
 * in a fresh temp root and states EXACTLY what `vmsvc check --json` must say
 * about it: every diagnostic as (rule, path relative to the data dir, severity),
 * and the VM names that come out valid. test/system/hostile.test.ts runs the real CLI
 * on each, and also checks that nothing is executed or written outside --out.
 *
 * Names full of shell and execline syntax carry "canary" payloads (`touch
 * CANARY`): if anything ever ran one, a file named CANARY would appear.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RuleId, Severity } from '../../../generator/rules/diagnostic.js';
import { lexExecline } from '../../../generator/s6rc/execline-lex.js';
import { ELF_HEADER, makeVm, multibootElf, qcow2Naming, setupHeaderElf, tempDir, type VmSpec } from '../data-dir.js';
import { makeStubs } from '../recording-stubs.js';

export interface ExpectedDiagnostic {
  readonly rule: RuleId;
  /** Relative to the data dir; '' for the data dir itself. Non-UTF-8 bytes as vmsvc shows them (\xNN). */
  readonly path: string;
  readonly severity: Severity;
}

export interface CaseContext {
  /** The temp root (also the cwd of every vmsvc run). */
  readonly root: string;
  /** The data dir, absolute: root/<dataDir>, already created. */
  readonly data: string;
}

export interface VerifyContext extends CaseContext {
  /** The --keep-going output (a symbolic link to the version dir). */
  readonly out: string;
}

export type Requirement = 'mknod' | 'setpriv';

export interface HostileCase {
  readonly title: string;
  /** The data dir's name below the temp root (default "data"). */
  readonly dataDir?: string;
  readonly build: (ctx: CaseContext) => void;
  /** Every diagnostic, in any order (the test sorts them the way vmsvc does). */
  readonly diagnostics: readonly ExpectedDiagnostic[];
  /** The valid VM names, in any order. */
  readonly valid: readonly string[];
  /** Run every vmsvc command as user nobody (via setpriv), so that mode 000 means unreadable. */
  readonly asNobody?: boolean;
  readonly requires?: readonly Requirement[];
  /** Big trees: a longer timeout, and no strict generate run. */
  readonly slow?: boolean;
  /** The check must finish within this many ms (e.g. it must not read a huge file). */
  readonly maxCheckMs?: number;
  /** Extra checks on the generated tree; returns the problems found. */
  readonly verify?: (ctx: VerifyContext) => string[] | Promise<string[]>;
  /** Run check and generate with --vmm crosvm (and --no-user-console, which it needs) or qemu; default cloud-hypervisor. */
  readonly vmm?: 'crosvm' | 'qemu';
}

/** The flags every vmsvc run of a case takes for its VMM. */
export function vmmFlags(c: HostileCase): string[] {
  if (c.vmm === 'crosvm') return ['--vmm', 'crosvm', '--no-user-console'];
  return c.vmm === 'qemu' ? ['--vmm', 'qemu'] : [];
}

// ------------------------------------------------------------------ builders

const err = (rule: RuleId, p: string): ExpectedDiagnostic => ({ rule, path: p, severity: 'error' });
const warn = (rule: RuleId, p: string): ExpectedDiagnostic => ({ rule, path: p, severity: 'warning' });

function vm(data: string, name: string, spec: VmSpec = {}): string {
  return makeVm(data, name, spec);
}

function vms(data: string, names: readonly string[], spec: VmSpec = {}): void {
  for (const name of names) vm(data, name, spec);
}

/** A path of raw bytes: strings are UTF-8, arrays are bytes as they are. */
function raw(...parts: Array<string | readonly number[]>): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
}

function mkfifo(p: string): void {
  execFileSync('mkfifo', ['--', p]);
}

function mknod(p: string, type: 'c' | 'b', major: number, minor: number): void {
  execFileSync('mknod', ['--', p, type, String(major), String(minor)]);
}

/** A Unix socket file, left behind by a process that listened on it and exited. */
function mksocket(p: string): void {
  execFileSync(process.execPath, ['-e', `require('node:net').createServer().listen(process.argv[1], () => process.exit(0))`, p]);
  if (!fs.lstatSync(p).isSocket()) throw new Error(`could not make a socket at ${p}`);
}

/** A sparse file of `size` bytes starting with `head`: ftruncate, nothing written past the head. */
function sparse(p: string, size: number, head: Buffer = Buffer.alloc(0)): void {
  const fd = fs.openSync(p, 'w');
  try {
    if (head.length > 0) fs.writeSync(fd, head, 0, head.length, 0);
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}

function replaceWithSymlink(target: string, p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
  fs.symlinkSync(target, p);
}

function providersOf(data: string, vmName: string): string {
  const dir = path.join(data, vmName, 'providers', 'net');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

const GiB = 1024 ** 3;

// ------------------------------------------------------------------ names

/** Shell syntax of every kind; each is a valid VM name and must pass through exactly. */
export const SHELL_NAMES = [
  '$(touch CANARY)', '`touch CANARY`', ';touch CANARY', '|touch CANARY', '&touch CANARY', '&&touch CANARY', '||touch CANARY',
  '>CANARY', '<CANARY', '$((1+1))', '${IFS}touch${IFS}CANARY', "'$(touch CANARY)'", '*', '?', '~root', '!!', '!$', 'a b',
  ' lead', 'trail ', ' ', '-rf', '--kernel', '--', '-', 'x=$(touch CANARY)', '%s%n%x', '$HOME', '\\$(touch CANARY)', '^', '@',
  '=(touch CANARY)', '<(touch CANARY)', '>(touch CANARY)', 'touch CANARY #', "'", '(', ')',
] as const;

/** execline syntax: blocks, comments, backslash and quote escapes, substitution syntax. */
export const EXECLINE_NAMES = [
  '{', '}', '{ }', '{}', '}{', ' { ', '#', '#!bin', '#CANARY', 'x#y', '\\', '\\\\', '\\n', '\\0x41', '\\101', '$x', '${x}', '$@',
  '$#', '$0', 'if', 'foreground', 'importas -i x x', 'execlineb -P', "''",
] as const;

/**
 * Names written with the variables the generated scripts substitute at run
 * time (forx, backtick), quoted by execline's backslash rule or not, and
 * the value one of them takes (5000, a stop's wait): before the stop's press
 * had a script of its own, a VM named ${vmsvc_wait_ms} pressed VM 5000's
 * power button.
 */
export const SUBSTITUTION_NAMES = [
  '${vmsvc_wait_ms}', '$vmsvc_wait_ms', '\\${vmsvc_wait_ms}', '\\\\${vmsvc_wait_ms}', '${vmsvc_reply}', '$vmsvc_wantedup', '5000', '${!}', '$SIGNAL',
] as const;

/** Names that look like options to the VMM, s6 or execlineb. */
export const OPTION_NAMES = ['--api-socket', '--disk', '-h', '--help', '--version', '-P', '-S0', '--serial=file', '-s', '--', '---'] as const;

/** Names that start like s6-rc's reserved names, or like vmsvc's own services and files. */
export const RESERVED_PREFIX_NAMES = [
  's6rc-x', 's6-rc-x', 's6rc-oneshot-runner', 's6rc-fdholder', 's6-rc', 's6rc-', 's6-rc-', 'vms', 'vmnet-0001', 'vmnet-ffff',
  'vm-vm', 'vm-', 'vmsvc-manifest.json', 'vmsvc-', 'log', 'pipeline', 'producer-for', 'contents.d', 'dependencies.d', 'type', 'run',
  'data',
] as const;

const DISK_NAMES = [
  '$(touch CANARY).img', '`touch CANARY`.img', ';touch CANARY.img', ' .img', '{.img', '}.img', '#.img', '\\.img', 'a b.img',
  '--kernel=x.img', '-.img', '$x.img', 'é.img', 'e\u0301.img', '🙂.img', "'.img", '*.img', '?.img', 'root.img',
] as const;

const ring = (n: number, i: number): string => `ring${n}-${i}`;

function buildRing(data: string, n: number): void {
  for (let i = 0; i < n; i++) vm(data, ring(n, i), { providers: [ring(n, (i + 1) % n)] });
}

const pad = (i: number, width: number): string => String(i).padStart(width, '0');

/** 3000 VMs in one provider chain; every 100th name carries a payload. */
const chainName = (i: number): string => (i % 100 === 50 ? `vm${pad(i, 4)} $(touch CANARY)` : `vm${pad(i, 4)}`);

// ------------------------------------------------------------------ the corpus





export const CORPUS: readonly HostileCase[] = [
  // ---------------------------------------------------------------- names
  {
    title: 'shell metacharacters in VM names pass through exactly',
    build: ({ data }) => vms(data, SHELL_NAMES),
    diagnostics: [],
    valid: SHELL_NAMES,
  },
  {
    title: 'execline metacharacters in VM names pass through exactly',
    build: ({ data }) => vms(data, EXECLINE_NAMES),
    diagnostics: [],
    valid: EXECLINE_NAMES,
  },
  {
    title: 'VM names holding the generated scripts\' own substitution variables: each stop presses its own VM\'s power button, under the real execlineb',
    build: ({ data }) => vms(data, SUBSTITUTION_NAMES),
    diagnostics: [],
    valid: SUBSTITUTION_NAMES,
    verify: ({ out }) => stopPressProblems(out, SUBSTITUTION_NAMES),
  },
  {
    title: 'VM names that look like command-line options pass through exactly',
    build: ({ data }) => vms(data, OPTION_NAMES, { disks: ['--disk.img', '-v.img', 'root.img'] }),
    diagnostics: [],
    valid: OPTION_NAMES,
  },
  {
    title: 'reserved s6-rc prefixes (s6rc-x, s6-rc-x) are fine as VM names: every service is vm-<name>',
    build: ({ data }) => vms(data, RESERVED_PREFIX_NAMES),
    diagnostics: [],
    valid: RESERVED_PREFIX_NAMES,
    verify: ({ out }) => {
      const problems: string[] = [];
      for (const name of RESERVED_PREFIX_NAMES) {
        for (const service of [`vm-${name}`, `vm-${name}-log`]) {
          const type = path.join(out, service, 'type');
          if (!fs.existsSync(type) || fs.readFileSync(type, 'utf8') !== 'longrun\n') problems.push(`no longrun ${service}`);
        }
      }
      for (const entry of fs.readdirSync(out)) {
        // Dot entries are vmsvc's own (s6-rc-compile skips them).
        if (!/^(vm-|vmnet-|\.)/.test(entry) && entry !== 'vms' && entry !== 'autostart' && entry !== 'vmsvc-manifest.json') problems.push(`unexpected top-level entry ${entry}`);
      }
      return problems;
    },
  },
  {
    title: 'Unicode lookalikes, combining and format characters pass through exactly',
    build: ({ data }) => vms(data, ['é', 'e\u0301', 'ＡＢ', '\u202Eevil', 'a\u2028b', 'zw\u200Bj', '🙂', '～', 'Ω', '\u2126', 'a\uFFFDb']),
    diagnostics: [],
    valid: ['é', 'e\u0301', 'ＡＢ', '\u202Eevil', 'a\u2028b', 'zw\u200Bj', '🙂', '～', 'Ω', '\u2126', 'a\uFFFDb'],
  },
  {
    title: 'VMM-splitting characters with payloads: name-vmm-unsafe',
    build: ({ data }) => vms(data, ['$(touch CANARY),x', '"$(touch CANARY)"', '[`touch CANARY`]', 'a]b', ',', '"', 'ok']),
    diagnostics: ['$(touch CANARY),x', '"$(touch CANARY)"', '[`touch CANARY`]', 'a]b', ',', '"'].map((n) => err('name-vmm-unsafe', n)),
    valid: ['ok'],
  },
  {
    title: 'newlines and other control characters in VM names: name-control-char',
    build: ({ data }) =>
      vms(data, ['a\nb', '$(touch CANARY)\n', 'x\r', '\ttab', 'esc\u001b[2J', 'del\u007f', 'nel\u0085', 'csi\u009b31m', '\u0001', 'bell\u0007', 'ok']),
    diagnostics: ['a\nb', '$(touch CANARY)\n', 'x\r', '\ttab', 'esc\u001b[2J', 'del\u007f', 'nel\u0085', 'csi\u009b31m', '\u0001', 'bell\u0007']
      .map((n) => err('name-control-char', n)),
    valid: ['ok'],
  },
  {
    title: 'names starting with a newline: VM dirs, an image, a provider entry',
    build: ({ data }) => {
      vms(data, ['\n', '\ntouch CANARY']);
      vm(data, 'vm', { disks: ['root.img', '\nsecond.img'] });
      vm(data, 'c', { providers: ['\nghost'] });
    },
    diagnostics: [
      err('name-control-char', '\n'), err('name-control-char', '\ntouch CANARY'), err('name-control-char', 'vm/blk/\nsecond.img'),
      err('provider-unknown', 'c/providers/net/\nghost'),
    ],
    valid: [],
  },
  {
    title: 'valid names starting with U+2028 or U+2029: VM dirs, an image, a provider entry',
    build: ({ data }) => {
      vm(data, '\u2028x', { disks: ['root.img', '\u2028d.img'] });
      vm(data, '\u2029x');
      vm(data, 'ok', { disks: ['root.img', '\u2029d.img'], providers: ['\u2028x'] });
    },
    diagnostics: [],
    valid: ['\u2028x', '\u2029x', 'ok'],
    verify: ({ out }) => {
      const deps = path.join(out, 'vm-ok', 'dependencies.d', 'vm-\u2028x');
      return fs.existsSync(deps) ? [] : ['vm-ok does not depend on its provider vm-\u2028x'];
    },
  },
  {
    title: 'VM directory names that are not UTF-8 (and a non-UTF-8 top-level file)',
    build: ({ data }) => {
      const names: Array<ReadonlyArray<string | readonly number[]>> = [
        [[0xff]], [[0xc3, 0x28]], [[0xed, 0xa0, 0x80]], [[0xc0, 0xaf]], [[0xf8, 0x88, 0x80, 0x80, 0x80]], ['$(touch CANARY)', [0xff]],
        [[0xe2, 0x82]], [[0xef, 0xbb]],
      ];
      for (const parts of names) {
        const dir = raw(data, '/', ...parts);
        fs.mkdirSync(dir);
        fs.mkdirSync(Buffer.concat([dir, Buffer.from('/blk')]));
        fs.writeFileSync(Buffer.concat([dir, Buffer.from('/vmlinux')]), ELF_HEADER);
        fs.writeFileSync(Buffer.concat([dir, Buffer.from('/blk/root.img')]), 'disk');
      }
      fs.writeFileSync(raw(data, '/', [0xfe]), 'a file');
      vm(data, 'ok');
    },
    diagnostics: ['\\xff', '\\xc3(', '\\xed\\xa0\\x80', '\\xc0\\xaf', '\\xf8\\x88\\x80\\x80\\x80', '$(touch CANARY)\\xff', '\\xe2\\x82', '\\xef\\xbb', '\\xfe']
      .map((p) => err('name-not-utf8', p)),
    valid: ['ok'],
  },
  {
    title: 'file names below VM dirs that are not UTF-8',
    build: ({ data }) => {
      vm(data, 'a');
      fs.writeFileSync(raw(data, '/a/blk/', [0xff], '.img'), 'disk');
      vm(data, 'b');
      providersOf(data, 'b');
      fs.writeFileSync(raw(data, '/b/providers/net/', [0xfe, 0xfe]), '');
      vm(data, 'c');
      fs.writeFileSync(raw(data, '/c/blk/', [0xff], '.raw'), 'ignored: not *.img');
      fs.writeFileSync(raw(data, '/c/', [0xff]), 'ignored: not a file vmsvc looks at');
      vm(data, 'd');
      fs.mkdirSync(raw(data, '/d/blk/', [0xc3, 0x28], '.img'));
    },
    diagnostics: [err('name-not-utf8', 'a/blk/\\xff.img'), err('name-not-utf8', 'b/providers/net/\\xfe\\xfe'), err('name-not-utf8', 'd/blk/\\xc3(.img')],
    valid: ['c'],
  },
  {
    title: 'an ignored non-UTF-8 file in blk/ beside an image whose valid name holds U+FFFD',
    build: ({ data }) => {
      vm(data, 'e', { disks: ['root.img', 'a\uFFFD.img'] });
      fs.writeFileSync(raw(data, '/e/blk/', [0xff], '.raw'), 'ignored: not *.img');
    },
    diagnostics: [],
    valid: ['e'],
    verify: ({ out, data }) => {
      const run = fs.readFileSync(path.join(out, 'vm-e', 'run'), 'utf8');
      return run.includes(`${data}/e/blk/a\uFFFD.img`) ? [] : ['the image a\uFFFD.img is missing from the run script'];
    },
  },
  {
    title: '255-byte names: VM names too long, image and provider names that long',
    build: ({ data }) => {
      vm(data, 'x'.repeat(255));
      vm(data, `${'é'.repeat(127)}y`);
      vm(data, 'img255', { disks: [`${'i'.repeat(251)}.img`] });
      vm(data, 'client', { providers: ['p'.repeat(255)] });
      vm(data, 'q'.repeat(90));
    },
    diagnostics: [
      err('name-too-long', 'x'.repeat(255)), err('name-too-long', 'x'.repeat(255)),
      err('name-too-long', `${'é'.repeat(127)}y`), err('name-too-long', `${'é'.repeat(127)}y`),
      err('provider-unknown', `client/providers/net/${'p'.repeat(255)}`),
    ],
    valid: ['img255', 'q'.repeat(90)],
  },
  {
    title: 'reserved suffixes -log and -pipeline, with payloads',
    build: ({ data }) => vms(data, ['$(touch CANARY)-log', 'x-pipeline', '-log', 'a-log-log', '-pipeline', '-logs', 'log-', 'pipeline-x', 'x-log ', 'x-LOG']),
    diagnostics: ['$(touch CANARY)-log', 'x-pipeline', '-log', 'a-log-log', '-pipeline'].map((n) => err('name-reserved-suffix', n)),
    valid: ['-logs', 'log-', 'pipeline-x', 'x-log ', 'x-LOG'],
  },
  {
    title: 'a name starting with U+FEFF (a BOM) is its own VM, not a second "web"',
    build: ({ data }) => {
      vm(data, 'web');
      vm(data, '\uFEFFweb', { disks: ['root.img', 'bom-only.img'] });
    },
    diagnostics: [],
    valid: ['web', '\uFEFFweb'],
  },
  {
    title: 'a VM dir named just U+FEFF does not turn the data dir itself into VM ""',
    build: ({ data }) => {
      fs.mkdirSync(path.join(data, '\uFEFF'));
      fs.writeFileSync(path.join(data, 'vmlinux'), ELF_HEADER);
      fs.mkdirSync(path.join(data, 'blk'));
      fs.writeFileSync(path.join(data, 'blk', 'root.img'), 'disk');
    },
    diagnostics: [
      err('blk-missing', '\uFEFF/blk'), err('vmlinux-missing', '\uFEFF/vmlinux'),
      err('vmlinux-missing', 'blk/vmlinux'), err('blk-missing', 'blk/blk'),
      warn('entry-not-directory', 'vmlinux'),
    ],
    valid: [],
  },
  {
    title: 'a data dir path full of shell and execline syntax',
    dataDir: "$(touch CANARY);`touch CANARY`&|<>*?!~ #{}()'$@+",
    build: ({ data }) => {
      vm(data, 'vm');
      vm(data, 'other', { providers: ['vm'] });
    },
    diagnostics: [],
    valid: ['vm', 'other'],
  },
  {
    title: 'a data dir path with a backslash',
    dataDir: 'da\\ta',
    build: ({ data }) => {
      vm(data, 'vm');
      vm(data, 'other', { providers: ['vm'] });
    },
    diagnostics: [],
    valid: ['vm', 'other'],
  },
  {
    title: 'a data dir path with a comma and a payload: path-vmm-unsafe, every VM skipped',
    dataDir: '$(touch CANARY),data',
    build: ({ data }) => vms(data, ['a', 'b']),
    diagnostics: [err('path-vmm-unsafe', '')],
    valid: [],
  },
  {
    title: 'a data dir path with a newline and a quote: path-vmm-unsafe',
    dataDir: 'da\n"ta',
    build: ({ data }) => vms(data, ['a']),
    diagnostics: [err('path-vmm-unsafe', '')],
    valid: [],
  },
  {
    title: 'disk image names with shell and execline syntax pass through exactly',
    build: ({ data }) => {
      vm(data, 'vm', { disks: DISK_NAMES });
      fs.writeFileSync(path.join(data, 'vm', 'blk', '.hidden.img'), '');
    },
    diagnostics: [],
    valid: ['vm'],
  },
  {
    title: 'disk image names the VMM would split, or with control characters',
    build: ({ data }) => {
      vm(data, 'vm', { disks: ['root.img', 'a,b.img', 'x"y.img', 'z[.img', ']`touch CANARY`.img', 'n\nl.img', '\u0085.img'] });
      vm(data, 'ok');
    },
    diagnostics: [
      err('path-vmm-unsafe', 'vm/blk/a,b.img'), err('path-vmm-unsafe', 'vm/blk/x"y.img'), err('path-vmm-unsafe', 'vm/blk/z[.img'),
      err('path-vmm-unsafe', 'vm/blk/]`touch CANARY`.img'), err('name-control-char', 'vm/blk/n\nl.img'), err('name-control-char', 'vm/blk/\u0085.img'),
    ],
    valid: ['ok'],
  },
  {
    title: 'a VM with 500 disk images',
    build: ({ data }) => vm(data, 'many', { disks: Array.from({ length: 500 }, (_, i) => `d${pad(499 - i, 3)} $(touch CANARY).img`) }),
    diagnostics: [],
    valid: ['many'],
  },
  // ---------------------------------------------------------------- providers
  {
    title: 'providers named with metacharacters make real links',
    build: ({ data }) => {
      vms(data, ['$(touch CANARY)', '{', '#x', 'a b']);
      vm(data, 'client', { providers: ['$(touch CANARY)', '{', '#x', 'a b'] });
    },
    diagnostics: [],
    valid: ['$(touch CANARY)', '{', '#x', 'a b', 'client'],
    verify: ({ out }) => {
      const deps = fs.readdirSync(path.join(out, 'vm-client', 'dependencies.d')).filter((d) => d.startsWith('vm-')).sort();
      const want = ['vm-#x', 'vm-$(touch CANARY)', 'vm-a b', 'vm-{'];
      return JSON.stringify(deps) === JSON.stringify(want) ? [] : [`vm-client depends on ${JSON.stringify(deps)}`];
    },
  },
  {
    title: 'dangling, self and invalid providers with payload names',
    build: ({ data }) => {
      vm(data, 'c1', { providers: ['`touch CANARY`'] });
      vm(data, 'c2', { providers: ['ghost;touch CANARY'] });
      vm(data, 'bad\nname');
      vm(data, 'c3', { providers: ['bad\nname'] });
      vm(data, '$(touch CANARY)', { providers: ['$(touch CANARY)'] });
      vm(data, 'ok');
    },
    diagnostics: [
      err('provider-unknown', 'c1/providers/net/`touch CANARY`'), err('provider-unknown', 'c2/providers/net/ghost;touch CANARY'),
      err('name-control-char', 'bad\nname'), err('provider-self', '$(touch CANARY)/providers/net/$(touch CANARY)'),
    ],
    valid: ['ok'],
  },
  {
    title: 'providers/net entries that are directories or symbolic links (to /etc, a device, a loop, nothing, inside)',
    build: ({ data }) => {
      vm(data, 'p');
      vm(data, 'a');
      fs.mkdirSync(path.join(providersOf(data, 'a'), 'p'));
      vm(data, 'b');
      fs.symlinkSync('/etc', path.join(providersOf(data, 'b'), 'p'));
      vm(data, 'c');
      fs.symlinkSync('../../../p', path.join(providersOf(data, 'c'), 'p'));
      vm(data, 'd');
      fs.symlinkSync('nowhere', path.join(providersOf(data, 'd'), 'p'));
      vm(data, 'e');
      fs.symlinkSync('/dev/zero', path.join(providersOf(data, 'e'), 'p'));
      vm(data, 'f');
      fs.symlinkSync('p', path.join(providersOf(data, 'f'), 'p'));
      vm(data, 'g');
      fs.symlinkSync('../../../p', path.join(providersOf(data, 'g'), 'ghost'));
    },
    diagnostics: [err('provider-not-file', 'a/providers/net/p'), err('provider-unknown', 'g/providers/net/ghost')],
    valid: ['b', 'c', 'd', 'e', 'f', 'p'],
  },
  ...Array.from({ length: 9 }, (_, k): HostileCase => {
    const n = k + 2;
    return {
      title: `a provider cycle of length ${n}, with a tail`,
      build: ({ data }) => {
        buildRing(data, n);
        vm(data, 'tail', { providers: [ring(n, n - 1)] });
        vm(data, 'ok');
      },
      diagnostics: [err('provider-cycle', `${ring(n, 0)}/providers/net/${ring(n, 1)}`)],
      valid: ['ok'],
    };
  }),
  {
    title: 'every cycle length 2..10 at once, and a self-provider',
    build: ({ data }) => {
      for (let n = 2; n <= 10; n++) buildRing(data, n);
      vm(data, 'self', { providers: ['self'] });
    },
    diagnostics: [
      ...Array.from({ length: 9 }, (_, k) => err('provider-cycle', `${ring(k + 2, 0)}/providers/net/${ring(k + 2, 1)}`)),
      err('provider-self', 'self/providers/net/self'),
    ],
    valid: [],
  },
  {
    title: 'a provider cycle of length 200',
    build: ({ data }) => {
      for (let i = 0; i < 200; i++) vm(data, `r${pad(i, 3)}`, { providers: [`r${pad((i + 1) % 200, 3)}`] });
      vm(data, 'client', { providers: ['r100'] });
    },
    diagnostics: [err('provider-cycle', 'r000/providers/net/r001')],
    valid: [],
  },
  {
    title: 'a 200-cycle with a chord is reported by its shortest cycle through the first VM',
    build: ({ data }) => {
      for (let i = 0; i < 200; i++) {
        const next = `r${pad((i + 1) % 200, 3)}`;
        vm(data, `r${pad(i, 3)}`, { providers: i === 0 || i === 100 ? [next, i === 0 ? 'r100' : 'r000'] : [next] });
      }
      vm(data, 'ok');
    },
    diagnostics: [err('provider-cycle', 'r000/providers/net/r100')],
    valid: ['ok'],
  },
  {
    title: '3000 VMs in one provider chain: check and generate succeed',
    slow: true,
    build: ({ data }) => {
      for (let i = 0; i < 3000; i++) vm(data, chainName(i), i === 0 ? {} : { providers: [chainName(i - 1)] });
    },
    diagnostics: [],
    valid: Array.from({ length: 3000 }, (_, i) => chainName(i)),
  },
  {
    title: 'more links than addresses: 257 clients x 256 providers = 65792 links',
    slow: true,
    build: ({ data }) => {
      const providers = Array.from({ length: 256 }, (_, i) => `p${pad(i, 3)}`);
      for (const p of providers) vm(data, p);
      for (let i = 0; i < 257; i++) {
        const client = `c${pad(i, 3)}`;
        vm(data, client);
        const net = providersOf(data, client);
        for (const p of providers) fs.closeSync(fs.openSync(path.join(net, p), 'w'));
      }
    },
    diagnostics: [err('links-exhausted', '')],
    valid: [],
  },
  // ---------------------------------------------------------------- symbolic links
  {
    title: 'symbolic links out of the data dir (absolute, relative, to its parent, VM dirs)',
    build: ({ root, data }) => {
      fs.writeFileSync(path.join(root, 'outside.raw'), 'host data');
      fs.mkdirSync(path.join(root, 'outside-dir'));
      vm(data, 'a');
      replaceWithSymlink('/etc/passwd', path.join(data, 'a', 'vmlinux'));
      vm(data, 'b');
      replaceWithSymlink('/etc/passwd', path.join(data, 'b', 'blk', 'root.img'));
      vm(data, 'c');
      fs.symlinkSync('../../../outside.raw', path.join(data, 'c', 'blk', 'x.img'));
      vm(data, 'd');
      replaceWithSymlink('../..', path.join(data, 'd', 'vmlinux'));
      fs.symlinkSync('/', path.join(data, 'e'));
      fs.symlinkSync('../outside-dir', path.join(data, 'f'));
      vm(data, 'ok');
    },
    diagnostics: [
      err('symlink-escapes', 'a/vmlinux'), err('symlink-escapes', 'b/blk/root.img'), err('symlink-escapes', 'c/blk/x.img'),
      err('symlink-escapes', 'd/vmlinux'), err('vm-dir-symlink', 'e'), err('vm-dir-symlink', 'f'),
    ],
    valid: ['ok'],
  },
  {
    title: 'symbolic links to devices (/dev/zero, /dev/null, /dev/urandom), directly or through a chain',
    build: ({ data }) => {
      vms(data, ['a', 'b', 'c', 'd', 'f']);
      replaceWithSymlink('/dev/zero', path.join(data, 'a', 'vmlinux'));
      replaceWithSymlink('/dev/null', path.join(data, 'b', 'vmlinux'));
      replaceWithSymlink('/dev/zero', path.join(data, 'c', 'blk', 'root.img'));
      replaceWithSymlink('/dev/urandom', path.join(data, 'd', 'blk', 'root.img'));
      fs.symlinkSync('/dev/null', path.join(data, 'f', 'dev-link'));
      replaceWithSymlink('../dev-link', path.join(data, 'f', 'blk', 'root.img'));
    },
    diagnostics: ['a/vmlinux', 'b/vmlinux', 'c/blk/root.img', 'd/blk/root.img', 'f/blk/root.img'].map((p) => err('symlink-escapes', p)),
    valid: [],
  },
  {
    title: 'symbolic links inside the data dir to FIFOs',
    build: ({ data }) => {
      vms(data, ['a', 'b', 'c']);
      mkfifo(path.join(data, 'a', 'fifo'));
      replaceWithSymlink('fifo', path.join(data, 'a', 'vmlinux'));
      mkfifo(path.join(data, 'b', 'fifo'));
      replaceWithSymlink('../fifo', path.join(data, 'b', 'blk', 'root.img'));
      replaceWithSymlink('../../a/fifo', path.join(data, 'c', 'blk', 'root.img'));
    },
    diagnostics: [err('vmlinux-not-file', 'a/vmlinux'), err('img-not-file', 'b/blk/root.img'), err('img-not-file', 'c/blk/root.img')],
    valid: [],
  },
  {
    title: 'symbolic link loops (self, pairs, a 45-link chain), a 30-link chain that resolves, a looping VM dir',
    build: ({ data }) => {
      vm(data, 'a');
      replaceWithSymlink('vmlinux', path.join(data, 'a', 'vmlinux'));
      vm(data, 'b', { disks: [] });
      fs.symlinkSync('b.img', path.join(data, 'b', 'blk', 'a.img'));
      fs.symlinkSync('a.img', path.join(data, 'b', 'blk', 'b.img'));
      vm(data, 'c');
      fs.symlinkSync('loop2', path.join(data, 'c', 'loop1'));
      fs.symlinkSync('loop1', path.join(data, 'c', 'loop2'));
      replaceWithSymlink('../loop1', path.join(data, 'c', 'blk', 'root.img'));
      for (const [name, length] of [['d', 45], ['e', 30]] as const) {
        vm(data, name);
        fs.writeFileSync(path.join(data, name, 'disk.raw'), 'disk');
        for (let i = 0; i < length; i++) fs.symlinkSync(i === length - 1 ? 'disk.raw' : `l${i + 1}`, path.join(data, name, `l${i}`));
        replaceWithSymlink('../l0', path.join(data, name, 'blk', 'root.img'));
      }
      fs.symlinkSync('loop', path.join(data, 'loop'));
      vm(data, 'p');
      vm(data, 'f');
      fs.symlinkSync('p', path.join(providersOf(data, 'f'), 'p'));
    },
    diagnostics: [
      err('symlink-loop', 'a/vmlinux'), err('symlink-loop', 'b/blk/a.img'), err('symlink-loop', 'b/blk/b.img'),
      err('symlink-loop', 'c/blk/root.img'), err('symlink-loop', 'd/blk/root.img'), err('vm-dir-symlink', 'loop'),
    ],
    valid: ['e', 'f', 'p'],
  },
  {
    title: 'dangling symbolic links whose targets are payloads',
    build: ({ data }) => {
      vm(data, 'a');
      replaceWithSymlink('$(touch CANARY)', path.join(data, 'a', 'vmlinux'));
      vm(data, 'b');
      replaceWithSymlink('`touch CANARY`', path.join(data, 'b', 'blk', 'root.img'));
      vm(data, 'c');
      fs.symlinkSync(';touch CANARY', path.join(providersOf(data, 'c'), 'ok'));
      vm(data, 'ok');
    },
    diagnostics: [err('vmlinux-missing', 'a/vmlinux'), err('img-dangling-symlink', 'b/blk/root.img')],
    valid: ['c', 'ok'],
  },
  {
    title: 'blk/, providers/ and providers/net/ as symbolic links, out of the data dir or inside it',
    build: ({ data }) => {
      vm(data, 'a', { disks: null });
      fs.symlinkSync('/dev', path.join(data, 'a', 'blk'));
      vm(data, 'b');
      fs.symlinkSync('/etc', path.join(data, 'b', 'providers'));
      vm(data, 'c');
      fs.mkdirSync(path.join(data, 'c', 'providers'));
      fs.symlinkSync('/proc/self/fd', path.join(data, 'c', 'providers', 'net'));
      vm(data, 'd', { disks: null });
      fs.mkdirSync(path.join(data, 'd', 'real'));
      fs.writeFileSync(path.join(data, 'd', 'real', 'root.img'), 'disk');
      fs.symlinkSync('real', path.join(data, 'd', 'blk'));
    },
    diagnostics: [
      err('blk-not-directory', 'a/blk'), err('providers-not-directory', 'b/providers'), err('providers-not-directory', 'c/providers/net'),
      err('blk-not-directory', 'd/blk'),
    ],
    valid: [],
  },
  {
    title: 'top-level symbolic links to devices, a FIFO, the data dir itself',
    build: ({ data }) => {
      fs.symlinkSync('/dev/null', path.join(data, 'null'));
      fs.symlinkSync('/dev/zero', path.join(data, 'zero'));
      mkfifo(path.join(data, '.fifo'));
      fs.symlinkSync('.fifo', path.join(data, 'fifo-link'));
      fs.symlinkSync('.', path.join(data, 'self'));
      vm(data, 'ok');
    },
    diagnostics: ['null', 'zero', 'fifo-link', 'self'].map((n) => err('vm-dir-symlink', n)),
    valid: ['ok'],
  },
  {
    title: 'QEMU: a multiboot vmlinux is refused, so a VM named "a b" cannot make QEMU load the module "a" (a top-level link to /etc/shadow) cut at the space of its -initrd',
    build: ({ data }) => {
      vm(data, 'a b', { kernel: multibootElf(64), initramfs: 'initramfs' });
      fs.symlinkSync('/etc/shadow', path.join(data, 'a'));
      vm(data, 'c d', { kernel: multibootElf(8140, 0), initramfs: 'initramfs' });
      vm(data, 'e f', { kernel: setupHeaderElf(), initramfs: 'initramfs' });
      vm(data, 'ok', { initramfs: 'initramfs' });
    },
    diagnostics: [err('vm-dir-symlink', 'a'), err('vmlinux-multiboot', 'a b/vmlinux'), err('vmlinux-multiboot', 'c d/vmlinux'), err('vmlinux-setup-header', 'e f/vmlinux')],
    valid: ['ok'],
    vmm: 'qemu',
  },
  {
    title: 'QEMU: a 122-byte ELF32 whose multiboot header runs past its end (QEMU completes it from its stack), initramfs -> "q r", top-level q -> /etc/shadow: refused as vmlinux-short',
    build: ({ data }) => {
      const k = Buffer.alloc(122);
      Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x01, 0x01, 0x01]).copy(k);
      k.writeUInt32LE(0x1badb002, 112);
      k.writeUInt32LE(0xe4520000, 116);
      k.writeUInt16LE(0x4ffe, 120);
      vm(data, 'v', { kernel: k });
      fs.writeFileSync(path.join(data, 'v', 'q r'), 'module');
      fs.symlinkSync('q r', path.join(data, 'v', 'initramfs'));
      fs.symlinkSync('/etc/shadow', path.join(data, 'v', 'q'));
      vm(data, 'ok', { initramfs: 'initramfs' });
    },
    diagnostics: [err('vmlinux-short', 'v/vmlinux')],
    valid: ['ok'],
    vmm: 'qemu',
  },
  {
    title: 'a disk link to a file whose name ends in white space, beside a link to /etc/shadow without it: cloud-hypervisor would trim the path and open the shadow file',
    build: ({ data }) => {
      vm(data, 'v', { disks: ['root.img'] });
      fs.writeFileSync(path.join(data, 'v', 'x '), 'disk');
      fs.symlinkSync('/etc/shadow', path.join(data, 'v', 'x'));
      fs.symlinkSync('../x ', path.join(data, 'v', 'blk', 'a.img'));
      vm(data, 'ok');
    },
    diagnostics: [err('path-vmm-unsafe', 'v/blk/a.img')],
    valid: ['ok'],
  },
  {
    title: 'crosvm: a multiboot vmlinux is refused, from just past the ELF header to the last offset crosvm scans; a Linux setup header it never looks at passes',
    build: ({ data }) => {
      vm(data, 'mb first', { kernel: multibootElf(64), initramfs: 'initramfs' });
      vm(data, 'mb last', { kernel: multibootElf(8180) });
      vm(data, 'setup header', { kernel: setupHeaderElf() });
    },
    diagnostics: [err('vmlinux-multiboot', 'mb first/vmlinux'), err('vmlinux-multiboot', 'mb last/vmlinux')],
    valid: ['setup header'],
    vmm: 'crosvm',
  },
  // ---------------------------------------------------------------- kinds of files
  {
    title: 'files of the wrong kind: directories, plain files, empty files, missing ones',
    build: ({ data }) => {
      vm(data, 'a', { kernel: null });
      fs.mkdirSync(path.join(data, 'a', 'vmlinux'));
      vm(data, 'b');
      fs.mkdirSync(path.join(data, 'b', 'blk', 'data.img'));
      vm(data, 'c', { disks: null });
      fs.writeFileSync(path.join(data, 'c', 'blk'), 'root.img\n');
      vm(data, 'd');
      fs.writeFileSync(path.join(data, 'd', 'providers'), 'net\n');
      vm(data, 'e');
      fs.mkdirSync(path.join(data, 'e', 'providers'));
      fs.writeFileSync(path.join(data, 'e', 'providers', 'net'), 'p\n');
      vm(data, 'f', { kernel: Buffer.alloc(0) });
      vm(data, 'g', { disks: [] });
      fs.writeFileSync(path.join(data, 'g', 'blk', 'root.img'), '');
      vm(data, 'h', { disks: [] });
      vm(data, 'i', { disks: null });
      vm(data, 'j', { kernel: null });
    },
    diagnostics: [
      err('vmlinux-not-file', 'a/vmlinux'), err('img-not-file', 'b/blk/data.img'), err('blk-not-directory', 'c/blk'),
      err('providers-not-directory', 'd/providers'), err('providers-not-directory', 'e/providers/net'), err('vmlinux-empty', 'f/vmlinux'),
      err('img-empty', 'g/blk/root.img'), err('blk-no-images', 'h/blk'), err('blk-missing', 'i/blk'), err('vmlinux-missing', 'j/vmlinux'),
    ],
    valid: [],
  },
  {
    title: 'FIFOs everywhere, and nothing blocks on them',
    build: ({ data }) => {
      vm(data, 'a', { kernel: null });
      mkfifo(path.join(data, 'a', 'vmlinux'));
      vm(data, 'b', { disks: [] });
      mkfifo(path.join(data, 'b', 'blk', 'root.img'));
      vm(data, 'c', { disks: null });
      mkfifo(path.join(data, 'c', 'blk'));
      vm(data, 'd');
      mkfifo(path.join(data, 'd', 'providers'));
      vm(data, 'e');
      fs.mkdirSync(path.join(data, 'e', 'providers'));
      mkfifo(path.join(data, 'e', 'providers', 'net'));
      vm(data, 'f');
      mkfifo(path.join(providersOf(data, 'f'), 'p'));
      vm(data, 'p');
      mkfifo(path.join(data, 'pipe'));
    },
    diagnostics: [
      err('vmlinux-not-file', 'a/vmlinux'), err('img-not-file', 'b/blk/root.img'), err('blk-not-directory', 'c/blk'),
      err('providers-not-directory', 'd/providers'), err('providers-not-directory', 'e/providers/net'), warn('entry-not-directory', 'pipe'),
    ],
    valid: ['f', 'p'],
  },
  {
    title: 'device nodes made with mknod: vmlinux, images, blk, a provider entry, a top-level entry',
    requires: ['mknod'],
    build: ({ data }) => {
      vm(data, 'a', { kernel: null });
      mknod(path.join(data, 'a', 'vmlinux'), 'c', 1, 5);
      vm(data, 'b', { disks: [] });
      mknod(path.join(data, 'b', 'blk', 'root.img'), 'c', 1, 3);
      vm(data, 'c', { disks: [] });
      mknod(path.join(data, 'c', 'blk', 'root.img'), 'b', 7, 0);
      vm(data, 'd', { disks: null });
      mknod(path.join(data, 'd', 'blk'), 'c', 1, 3);
      vm(data, 'e');
      mknod(path.join(providersOf(data, 'e'), 'p'), 'c', 1, 3);
      vm(data, 'p');
      mknod(path.join(data, 'zero'), 'c', 1, 5);
    },
    diagnostics: [
      err('vmlinux-not-file', 'a/vmlinux'), err('img-not-file', 'b/blk/root.img'), err('img-not-file', 'c/blk/root.img'),
      err('blk-not-directory', 'd/blk'), warn('entry-not-directory', 'zero'),
    ],
    valid: ['e', 'p'],
  },
  {
    title: 'Unix sockets as vmlinux, as an image, at the top level',
    build: ({ data }) => {
      vm(data, 'a', { disks: [] });
      mksocket(path.join(data, 'a', 'blk', 'root.img'));
      vm(data, 'b', { kernel: null });
      mksocket(path.join(data, 'b', 'vmlinux'));
      mksocket(path.join(data, 'sock'));
    },
    diagnostics: [err('img-not-file', 'a/blk/root.img'), err('vmlinux-not-file', 'b/vmlinux'), warn('entry-not-directory', 'sock')],
    valid: [],
  },
  {
    title: 'huge sparse files (8 GiB vmlinux and image, a 1 TiB image) are never read',
    maxCheckMs: 10_000,
    build: ({ data }) => {
      vm(data, 'big', { kernel: null, disks: [] });
      sparse(path.join(data, 'big', 'vmlinux'), 8 * GiB, ELF_HEADER);
      sparse(path.join(data, 'big', 'blk', 'root.img'), 8 * GiB);
      sparse(path.join(data, 'big', 'blk', 'tera.img'), 1024 * GiB);
      vm(data, 'zeros', { kernel: null });
      sparse(path.join(data, 'zeros', 'vmlinux'), 8 * GiB);
    },
    diagnostics: [err('vmlinux-not-elf', 'zeros/vmlinux')],
    valid: ['big'],
  },
  {
    title: 'unreadable files (mode 000), checked as nobody',
    asNobody: true,
    requires: ['setpriv'],
    build: ({ data }) => {
      vms(data, ['a', 'b', 'ok']);
      vm(data, 'c', { disks: ['root.img', 'data.img'] });
      fs.chmodSync(path.join(data, 'a', 'vmlinux'), 0o000);
      fs.chmodSync(path.join(data, 'b', 'blk', 'root.img'), 0o000);
      fs.chmodSync(path.join(data, 'c', 'blk', 'data.img'), 0o000);
    },
    diagnostics: [err('vmlinux-unreadable', 'a/vmlinux'), err('img-unreadable', 'b/blk/root.img'), err('img-unreadable', 'c/blk/data.img')],
    valid: ['ok'],
  },
  {
    title: 'an unreadable providers/net/ or providers/ (mode 000), checked as nobody, is an error, not a VM without links',
    asNobody: true,
    requires: ['setpriv'],
    build: ({ data }) => {
      vm(data, 'p');
      vm(data, 'a', { providers: ['p'] });
      fs.chmodSync(path.join(data, 'a', 'providers', 'net'), 0o000);
      vm(data, 'd', { providers: ['p'] });
      fs.chmodSync(path.join(data, 'd', 'providers'), 0o000);
    },
    diagnostics: [err('providers-not-directory', 'a/providers/net'), err('providers-not-directory', 'd/providers')],
    valid: ['p'],
  },
  {
    title: 'an unreadable blk/ (mode 000 or 311), checked as nobody, is reported as such, not as holding no images',
    asNobody: true,
    requires: ['setpriv'],
    build: ({ data }) => {
      vms(data, ['a', 'b', 'ok']);
      fs.chmodSync(path.join(data, 'a', 'blk'), 0o000);
      fs.chmodSync(path.join(data, 'b', 'blk'), 0o311);
    },
    diagnostics: [err('blk-not-directory', 'a/blk'), err('blk-not-directory', 'b/blk')],
    valid: ['ok'],
  },
  // ---------------------------------------------------------------- the data dir itself
  {
    title: 'an empty data dir',
    build: () => undefined,
    diagnostics: [warn('data-empty', '')],
    valid: [],
  },
  {
    title: 'only hidden entries and plain files, one named like a payload',
    build: ({ data }) => {
      vm(data, '.hidden', { kernel: null });
      vm(data, '.$(touch CANARY)');
      fs.writeFileSync(path.join(data, 'README'), 'notes');
      fs.writeFileSync(path.join(data, '$(touch CANARY)'), '#!/bin/sh\ntouch CANARY\n', { mode: 0o755 });
    },
    diagnostics: [warn('data-empty', ''), warn('entry-not-directory', 'README'), warn('entry-not-directory', '$(touch CANARY)')],
    valid: [],
  },
  {
    title: 'kitchen sink: many problems at once, in vmsvc\'s order',
    build: ({ data }) => {
      fs.writeFileSync(path.join(data, 'README'), 'notes');
      fs.symlinkSync('ok', path.join(data, 'linked'));
      vm(data, 'a', { kernel: null, disks: null });
      vm(data, 'b-log', { kernel: Buffer.alloc(0) });
      vm(data, 'c', { providers: ['a', 'linked'] });
      vm(data, 'd', { providers: ['e'] });
      vm(data, 'e', { providers: ['d'] });
      vm(data, 'f', { providers: ['ok'] });
      fs.mkdirSync(path.join(providersOf(data, 'f'), 'dir'));
      vm(data, '$(touch CANARY)', { providers: ['ok'] });
      vm(data, 'ok', { disks: ['root.img', 'x,y.img'] });
      vm(data, 'fine');
      vm(data, 'client', { providers: ['fine', '$(touch CANARY)'] });
    },
    diagnostics: [
      warn('entry-not-directory', 'README'), err('vm-dir-symlink', 'linked'), err('vmlinux-missing', 'a/vmlinux'), err('blk-missing', 'a/blk'),
      err('name-reserved-suffix', 'b-log'), err('vmlinux-empty', 'b-log/vmlinux'), err('provider-unknown', 'c/providers/net/linked'),
      err('provider-cycle', 'd/providers/net/e'), err('provider-not-file', 'f/providers/net/dir'), err('path-vmm-unsafe', 'ok/blk/x,y.img'),
    ],
    valid: ['fine'],
  },
  // ---------------------------------------------------------------- bounds: every run ends (issue 10, items 3 and 4)
  {
    title: 'bounds: a link whose target goes through a directory link and then .. (Node\'s realpath revisits it forever)',
    build: ({ root, data }) => {
      fs.mkdirSync(path.join(root, 'outside', 'd'), { recursive: true });
      fs.writeFileSync(path.join(root, 'outside', 'vmlinux'), ELF_HEADER);
      fs.writeFileSync(path.join(root, 'outside', 'root.img'), 'host disk\n');
      vm(data, 'ok');
      // The kernel follows b first, then applies ..: a/vmlinux is ../outside/vmlinux. Taken as
      // text, b/../vmlinux is a/vmlinux again: Node's JS fs.realpathSync spun on it at 100% CPU.
      vm(data, 'a');
      fs.symlinkSync('../../outside/d', path.join(data, 'a', 'b'));
      replaceWithSymlink('b/../vmlinux', path.join(data, 'a', 'vmlinux'));
      vm(data, 'c');
      fs.symlinkSync('../../../outside/d', path.join(data, 'c', 'blk', 'b'));
      replaceWithSymlink('b/../root.img', path.join(data, 'c', 'blk', 'root.img'));
    },
    diagnostics: [err('symlink-escapes', 'a/vmlinux'), err('symlink-escapes', 'c/blk/root.img')],
    valid: ['ok'],
    maxCheckMs: 10_000,
  },
  {
    title: 'bounds: one VM with 130,000 empty images next to a healthy VM (push(...) overflowed the stack)',
    slow: true,
    build: ({ data }) => {
      vm(data, 'good');
      vm(data, 'bad', { disks: [] });
      const blk = path.join(data, 'bad', 'blk');
      for (let i = 0; i < 130_000; i++) fs.closeSync(fs.openSync(path.join(blk, `${i}.img`), 'w'));
    },
    diagnostics: Array.from({ length: 130_000 }, (_, i) => err('img-empty', `bad/blk/${i}.img`)),
    valid: ['good'],
  },
  {
    title: 'bounds: broken VMs whose links alone pass 65534 do not take the healthy VMs down with them',
    slow: true,
    build: ({ data }) => {
      vm(data, 'netvm');
      vm(data, 'appvm', { providers: ['netvm'] });
      // 363 VMs without blk/, each a client of every later one (no cycle): 65,703 links.
      const broken = Array.from({ length: 363 }, (_, i) => `broken${pad(i, 3)}`);
      broken.forEach((name, i) => {
        vm(data, name, { disks: null });
        const net = providersOf(data, name);
        for (const p of broken.slice(i + 1)) fs.closeSync(fs.openSync(path.join(net, p), 'w'));
      });
    },
    diagnostics: Array.from({ length: 363 }, (_, i) => err('blk-missing', `broken${pad(i, 3)}/blk`)),
    valid: ['appvm', 'netvm'],
  },
  // ---------------------------------------------------------------- end of bounds
  // ---- scan helper (issue 10 items 1-2): links resolved as the kernel resolves them.
  {
    title: 'a link through a linked directory, then `..`: judged where the kernel lands (an outside FIFO, file, device), not by the text',
    build: ({ root, data }) => {
      // Outside, where the kernel goes: T/outside/deep/er is what each VM's d links to.
      fs.mkdirSync(path.join(root, 'outside', 'deep', 'er'), { recursive: true });
      fs.mkdirSync(path.join(root, 'outside', 'a'), { recursive: true });
      fs.mkdirSync(path.join(root, 'outside', 'b', 'blk'), { recursive: true });
      mkfifo(path.join(root, 'outside', 'a', 'real'));
      fs.writeFileSync(path.join(root, 'outside', 'b', 'blk', 'disk'), 'host disk');
      // a/vmlinux -> d/../../a/real: as text a/real (an ELF decoy inside); the kernel reaches the outside FIFO.
      vm(data, 'a');
      fs.writeFileSync(path.join(data, 'a', 'real'), ELF_HEADER);
      fs.symlinkSync('../../outside/deep/er', path.join(data, 'a', 'd'));
      replaceWithSymlink('d/../../a/real', path.join(data, 'a', 'vmlinux'));
      // b/blk/root.img -> ../d/../../b/blk/disk: as text b/blk/disk (inside); the kernel reaches an outside file.
      vm(data, 'b');
      fs.writeFileSync(path.join(data, 'b', 'blk', 'disk'), 'decoy');
      fs.symlinkSync('../../outside/deep/er', path.join(data, 'b', 'd'));
      replaceWithSymlink('../d/../../b/blk/disk', path.join(data, 'b', 'blk', 'root.img'));
      // c/blk/root.img -> ../lnk/../null with lnk -> /dev/shm: as text c/null (a decoy file); the kernel reaches /dev/null.
      vm(data, 'c');
      fs.writeFileSync(path.join(data, 'c', 'null'), 'decoy');
      fs.symlinkSync('/dev/shm', path.join(data, 'c', 'lnk'));
      replaceWithSymlink('../lnk/../null', path.join(data, 'c', 'blk', 'root.img'));
      vm(data, 'ok');
    },
    diagnostics: [err('symlink-escapes', 'a/vmlinux'), err('symlink-escapes', 'b/blk/root.img'), err('symlink-escapes', 'c/blk/root.img')],
    valid: ['ok'],
  },
  {
    title: 'a link whose text leaves the data dir but which the kernel resolves inside is valid, and the VMM gets the file it reaches',
    build: ({ data }) => {
      // e/blk/root.img -> ../d/../../real.img with d -> x/y: as text data/real.img (nothing); the kernel reaches e/real.img.
      vm(data, 'e');
      fs.mkdirSync(path.join(data, 'e', 'x', 'y'), { recursive: true });
      fs.writeFileSync(path.join(data, 'e', 'real.img'), 'root disk');
      fs.symlinkSync('x/y', path.join(data, 'e', 'd'));
      replaceWithSymlink('../d/../../real.img', path.join(data, 'e', 'blk', 'root.img'));
      // vmlinux likewise, through a linked directory and `..` twice.
      fs.writeFileSync(path.join(data, 'e', 'kernel'), ELF_HEADER);
      replaceWithSymlink('d/../../kernel', path.join(data, 'e', 'vmlinux'));
    },
    diagnostics: [],
    valid: ['e'],
  },
  {
    title: 'a link to a file inside whose path the VMM cannot take (a comma, a newline, bytes not UTF-8): refused, though the link\'s own name is fine',
    build: ({ data }) => {
      vm(data, 'f');
      fs.mkdirSync(path.join(data, '.shared,disks'));
      fs.writeFileSync(path.join(data, '.shared,disks', 'root.img'), 'disk');
      replaceWithSymlink('../../.shared,disks/root.img', path.join(data, 'f', 'blk', 'root.img'));
      vm(data, 'g');
      fs.writeFileSync(path.join(data, 'g', 'k\nernel'), ELF_HEADER);
      replaceWithSymlink('k\nernel', path.join(data, 'g', 'vmlinux'));
      vm(data, 'h');
      fs.writeFileSync(Buffer.concat([Buffer.from(`${path.join(data, 'h')}/`), Buffer.from([0x6b, 0xff])]), ELF_HEADER);
      fs.unlinkSync(path.join(data, 'h', 'vmlinux'));
      fs.symlinkSync(Buffer.from([0x6b, 0xff]), path.join(data, 'h', 'vmlinux'));
    },
    diagnostics: [err('path-vmm-unsafe', 'f/blk/root.img'), err('path-vmm-unsafe', 'g/vmlinux'), err('name-not-utf8', 'h/vmlinux')],
    valid: [],
  },
  // ---------------------------------------------------------------- per-VM settings (config/)
  {
    title: 'config/ files root must not open or read whole: a FIFO, a link to /etc/shadow, a 1 GiB sparse file, bytes not UTF-8',
    build: ({ data }) => {
      vm(data, 'fifo', { config: {} });
      mkfifo(path.join(data, 'fifo', 'config', 'memory'));
      vm(data, 'shadow', { config: {} });
      fs.symlinkSync('/etc/shadow', path.join(data, 'shadow', 'config', 'cmdline'));
      vm(data, 'huge', { config: {} });
      sparse(path.join(data, 'huge', 'config', 'cpus'), GiB, Buffer.from('2\n'));
      vm(data, 'bytes', { config: { 'stop-timeout': raw('6', [0xff, 0xfe], '0') } });
      vm(data, 'ok', { config: { memory: '512M\n', cpus: '2', autostart: '' } });
    },
    diagnostics: [
      err('setting-invalid', 'bytes/config/stop-timeout'), err('setting-not-file', 'fifo/config/memory'),
      err('setting-too-large', 'huge/config/cpus'), err('symlink-escapes', 'shadow/config/cmdline'),
    ],
    valid: ['ok'],
    maxCheckMs: 10_000,
    verify: ({ out }) => {
      const run = fs.readFileSync(path.join(out, 'vm-ok', 'run'), 'utf8');
      const problems: string[] = [];
      if (!run.includes('--memory size=512M') || !run.includes('--cpus boot=2')) problems.push('vm-ok runs without its config/memory and cpus');
      if (!fs.existsSync(path.join(out, 'autostart', 'contents.d', 'vm-ok-pipeline'))) problems.push('vm-ok is not in the autostart bundle');
      return problems;
    },
  },
  {
    title: 'config/ as a link to /etc, shell payloads as unknown setting names (warnings, never opened), a cmdline with a payload passed as one word',
    build: ({ data }) => {
      vm(data, 'linked');
      fs.symlinkSync('/etc', path.join(data, 'linked', 'config'));
      vm(data, 'names', { config: { '$(touch CANARY)': '1', ';touch CANARY': '', '--memory': '8G' } });
      vm(data, 'payload', { config: { cmdline: 'init=$(touch CANARY) `touch CANARY` ; }' } });
    },
    diagnostics: [
      err('config-not-directory', 'linked/config'),
      warn('setting-unknown', 'names/config/$(touch CANARY)'), warn('setting-unknown', 'names/config/--memory'), warn('setting-unknown', 'names/config/;touch CANARY'),
    ],
    valid: ['names', 'payload'],
    verify: ({ out }) => {
      const lexed = lexExecline(fs.readFileSync(path.join(out, 'vm-payload', 'run'), 'utf8'));
      const want = '--cmdline=console=ttyS0 root=PARTLABEL=root init=$(touch CANARY) `touch CANARY` ; }';
      return lexed.ok && lexed.argv.includes(want) ? [] : [`vm-payload's run script does not pass ${JSON.stringify(want)} as one word`];
    },
  },
  {
    title: 'device nodes as config/ files are never opened: a character device (/dev/zero\'s numbers) and a block device',
    requires: ['mknod'],
    build: ({ data }) => {
      vm(data, 'c', { config: {} });
      mknod(path.join(data, 'c', 'config', 'memory'), 'c', 1, 5);
      vm(data, 'b', { config: {} });
      mknod(path.join(data, 'b', 'config', 'autostart'), 'b', 7, 0);
    },
    diagnostics: [err('setting-not-file', 'b/config/autostart'), err('setting-not-file', 'c/config/memory')],
    valid: [],
  },
  // ---- end of the scan helper's block.
  {
    // crosvm f1e797a6 probes each image (disk/src/disk.rs:223-281) and opens
    // QCOW2's backing file (disk/src/qcow/mod.rs:627-644) and a composite
    // disk's components (disk/src/composite.rs:214-228) on the host.
    title: 'crosvm: QCOW2 headers naming /etc/shadow and /dev/sda, a composite disk naming ../../etc/shadow, a huge sparse QCOW2: img-not-raw; raw look-alikes pass',
    vmm: 'crosvm',
    maxCheckMs: 10_000,
    build: ({ data }) => {
      vm(data, 'shadow');
      fs.writeFileSync(path.join(data, 'shadow', 'blk', 'root.img'), qcow2Naming('/etc/shadow'));
      vm(data, 'sda', { disks: ['root.img'] });
      fs.writeFileSync(path.join(data, 'sda', 'blk', 'data.img'), qcow2Naming('/dev/sda'));
      vm(data, 'cdisk');
      fs.writeFileSync(path.join(data, 'cdisk', 'blk', 'root.img'), Buffer.concat([Buffer.from('composite_disk\x1d'), Buffer.from('\x0a\x16../../etc/shadow')]));
      vm(data, 'huge');
      sparse(path.join(data, 'huge', 'blk', 'root.img'), 64 * GiB, qcow2Naming('/etc/shadow'));
      vm(data, 'ok', { disks: ['root.img'] });
      fs.writeFileSync(path.join(data, 'ok', 'blk', 'later.img'), Buffer.concat([Buffer.alloc(512), qcow2Naming('/etc/shadow')]));
      fs.writeFileSync(path.join(data, 'ok', 'blk', 'short.img'), Buffer.from('QFI', 'latin1'));
      sparse(path.join(data, 'ok', 'blk', 'big.img'), 64 * GiB);
    },
    diagnostics: [
      err('img-not-raw', 'cdisk/blk/root.img'), err('img-not-raw', 'huge/blk/root.img'),
      err('img-not-raw', 'sda/blk/data.img'), err('img-not-raw', 'shadow/blk/root.img'),
    ],
    valid: ['ok'],
  },
  {
    title: 'cloud-hypervisor: the same QCOW2 and composite headers are raw images to it (image_type=raw) and pass',
    build: ({ data }) => {
      vm(data, 'shadow');
      fs.writeFileSync(path.join(data, 'shadow', 'blk', 'root.img'), qcow2Naming('/etc/shadow'));
      vm(data, 'cdisk');
      fs.writeFileSync(path.join(data, 'cdisk', 'blk', 'root.img'), Buffer.concat([Buffer.from('composite_disk\x1d'), Buffer.from('\x0a\x16../../etc/shadow')]));
    },
    diagnostics: [],
    valid: ['cdisk', 'shadow'],
  },
];

// ------------------------------------------------------------------ shared checks of generated trees

/** The words of an execline script, or a reason it does not lex. */
export function lexWords(script: string): string[] | string {
  const lexed = lexExecline(script);
  return lexed.ok ? lexed.argv : `${lexed.error} at ${lexed.offset}`;
}

/**
 * Checks that the VM's run script hands the VMM exactly `kernel` after --kernel
 * and, after its one --disk, exactly one word per image, in order, up to the
 * next option (--net or --serial); returns the problems.
 */
export function runScriptProblems(script: string, kernel: string, disks: readonly string[], vmm: 'cloud-hypervisor' | 'crosvm' | 'qemu' = 'cloud-hypervisor'): string[] {
  const lexed = lexWords(script);
  if (typeof lexed === 'string') return [`the run script does not lex: ${lexed}`];
  const words = handedOver(lexed);
  if (vmm === 'crosvm') return crosvmArgvProblems(words, kernel, disks);
  if (vmm === 'qemu') return qemuArgvProblems(words, kernel, disks);
  const problems: string[] = [];
  const kernelAt = words.indexOf('--kernel');
  if (kernelAt < 0 || words.indexOf('--kernel', kernelAt + 1) >= 0) problems.push('not exactly one --kernel');
  else if (words[kernelAt + 1] !== kernel) problems.push(`--kernel ${JSON.stringify(words[kernelAt + 1])}, want ${JSON.stringify(kernel)}`);
  // cloud-hypervisor v53.0 takes all disks as values of one --disk (test/run-scripts.test.ts cites where).
  const want = disks.map((d) => `path=${d},readonly=on,image_type=raw`);
  const diskAt = words.indexOf('--disk');
  if (diskAt < 0 || words.indexOf('--disk', diskAt + 1) >= 0) problems.push('not exactly one --disk');
  else {
    const diskWords = words.slice(diskAt + 1, diskAt + 1 + want.length + 1);
    if (JSON.stringify(diskWords.slice(0, -1)) !== JSON.stringify(want) || !['--net', '--serial'].includes(diskWords.at(-1) ?? '')) {
      problems.push(`--disk words ${JSON.stringify(diskWords)}, want ${JSON.stringify(want)} then --net or --serial`);
    }
  }
  return problems;
}

/**
 * The words with each descriptor the VMM gets (templates/common/open-files.hbs)
 * replaced by the file root opened on it: `redirfd -rnb N FILE` (or -unb)
 * gives fd N; crosvm's /proc/self/fd/N and QEMU's /dev/fdset/M (`-add-fd
 * fd=N,set=M`) name it. So the checks below see the files, whichever way
 * they reach the VMM.
 */
function handedOver(words: readonly string[]): string[] {
  const fds = new Map<string, string>();
  words.forEach((w, i) => {
    if (w === 'redirfd' && /^-[ru]nb$/.test(words[i + 1] ?? '')) fds.set(words[i + 2] ?? '', words[i + 3] ?? '');
  });
  const sets = new Map<string, string>();
  words.forEach((w, i) => {
    const m = w === '-add-fd' ? /^fd=(\d+),set=(\d+)$/.exec(words[i + 1] ?? '') : null;
    if (m !== null && !sets.has(m[2]!)) sets.set(m[2]!, fds.get(m[1]!) ?? `(fd ${m[1]!} not opened)`);
  });
  return words.map((w) => w
    .replace(/\/proc\/self\/fd\/(\d+)/g, (x, n: string) => fds.get(n) ?? x)
    .replace(/\/dev\/fdset\/(\d+)/g, (x, n: string) => sets.get(n) ?? x));
}

/** QEMU 7.2: one -kernel, and one -drive per disk, in order (templates/qemu/vm-run.hbs). */
function qemuArgvProblems(words: readonly string[], kernel: string, disks: readonly string[]): string[] {
  const problems: string[] = [];
  const kernels = words.flatMap((w, i) => (w === '-kernel' ? [words[i + 1] ?? ''] : []));
  if (JSON.stringify(kernels) !== JSON.stringify([kernel])) problems.push(`-kernel values ${JSON.stringify(kernels)}, want ${JSON.stringify([kernel])}`);
  const drives = words.flatMap((w, i) => (w === '-drive' ? [words[i + 1] ?? ''] : []));
  const want = disks.map((d, i) => `file=${d},if=none,id=disk${i},format=raw,readonly=on`);
  if (JSON.stringify(drives) !== JSON.stringify(want)) problems.push(`-drive values ${JSON.stringify(drives)}, want ${JSON.stringify(want)}`);
  return problems;
}

/**
 * crosvm f1e797a6: one `--block path=...,ro=true` per disk, in order, and the
 * kernel as the last positional argument (test/system/run-scripts.test.ts cites where).
 */
function crosvmArgvProblems(words: readonly string[], kernel: string, disks: readonly string[]): string[] {
  const problems: string[] = [];
  if (words.at(-1) !== kernel) problems.push(`last word ${JSON.stringify(words.at(-1))}, want the kernel ${JSON.stringify(kernel)}`);
  const blocks = words.flatMap((w, i) => (w === '--block' ? [words[i + 1] ?? ''] : []));
  const want = disks.map((d) => `path=${d},ro=true`);
  if (JSON.stringify(blocks) !== JSON.stringify(want)) problems.push(`--block values ${JSON.stringify(blocks)}, want ${JSON.stringify(want)}`);
  return problems;
}

/**
 * Runs each VM's run script under Debian's execlineb (its #! line) with
 * recording stubs first in PATH (test/support/recording-stubs.ts), stops it
 * as s6-supervise would, and returns every power-button press that did not
 * name the VM's own socket (cloud-hypervisor's ch-remote, /run/vm: the
 * defaults the corpus generates with).
 */
async function stopPressProblems(out: string, names: readonly string[]): Promise<string[]> {
  const execline = '/usr/lib/execline/bin';
  if (!fs.existsSync('/bin/execlineb') || !fs.existsSync(path.join(execline, 'forx'))) return ['Debian\'s execline is not installed (./scripts/setup-tests.sh)'];
  const root = tempDir('vmsvc-stop-');
  try {
    const stubs = makeStubs(root, execline, 'cloud-hypervisor');
    const problems: string[] = [];
    for (const name of names) {
      const { stop } = await stubs.runAndStop(path.join(out, `vm-${name}`));
      const presses = stop.filter((c) => c.program === 'ch-remote');
      if (presses.length === 0) problems.push(`${name}: its stop pressed no power button`);
      for (const p of presses) {
        const want = ['--api-socket', `/run/vm/${name}/api.sock`, 'power-button'];
        if (JSON.stringify(p.args) !== JSON.stringify(want)) problems.push(`${name}: its stop ran ch-remote ${JSON.stringify(p.args)}, want ${JSON.stringify(want)}`);
      }
    }
    return problems;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Whether the tools a case needs are here (we run as root on the test machines). */
export function available(req: Requirement): boolean {
  if (req === 'setpriv') return spawnSync('setpriv', ['--version']).error === undefined && process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'vmsvc-mknod-'));
  try {
    return spawnSync('mknod', [path.join(dir, 'n'), 'c', '1', '3']).status === 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const REPO = path.resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..');

/**
 * A private copy of the bundled CLI (bin/, dist/, templates/), taken once:
 * `npm run build` empties dist/ first, so a build by someone else during a
 * minutes-long run would otherwise make some runs fail to start. The copy is
 * checked by running it, and retried while a build is under way.
 */
export function privateCli(): { readonly vmsvc: string; readonly dispose: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-cli-'));
  fs.chmodSync(dir, 0o755); // some cases run it as nobody
  const dispose = (): void => fs.rmSync(dir, { recursive: true, force: true });
  const sleep = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      for (const sub of ['bin', 'dist', 'templates']) {
        fs.rmSync(path.join(dir, sub), { recursive: true, force: true });
        fs.cpSync(path.join(REPO, sub), path.join(dir, sub), { recursive: true });
      }
      fs.writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
      const vmsvc = path.join(dir, 'bin', 'vmsvc.cjs');
      if (spawnSync(process.execPath, [vmsvc, 'check', '--help'], { timeout: 30_000 }).status === 0) return { vmsvc, dispose };
    } catch {
      // dist/ is being rebuilt: try again.
    }
    sleep(300);
  }
  dispose();
  throw new Error('cannot copy a working bin/vmsvc.cjs: run npm run build');
}
