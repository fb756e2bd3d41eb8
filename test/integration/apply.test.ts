/**
 * `vmsvc apply` against a recording stand-in for s6-rc (not installable
 * here): the exact commands run, the conversion file given to s6-rc-update,
 * the current/previous links and what is kept or removed on failure.
 *
 * The stand-in behaves like the real programs where apply depends on it:
 * s6-rc-compile creates COMPILED (and refuses an existing one), s6-rc-init
 * creates LIVE with LIVE/compiled -> its -c argument, s6-rc-update
 * points LIVE/compiled at the new database, and s6-rc keeps the set of
 * services that are up (`-a list`, `-u`, `-d`; no dependencies). It has no
 * LIVE/servicedirs, so apply unsupervises nothing: that, and the s6-rc-update
 * race it avoids, are tested under the real programs (apply-real.test.ts).
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { desiredTree, runApply } from '../../generator/apply/apply.js';
import type { ApplyOptions } from '../../generator/apply/options.js';
import type { CommandResult, CommandRunner } from '../../generator/util/command-runner.js';
import { defaultOptions } from '../../generator/pipeline/options.js';
import { sameTree } from '../../generator/pipeline/write-tree.js';
import { dataDirWith, makeVm, type VmSpec } from '../support/data-dir.js';

interface Failure {
  readonly code: number;
  readonly stderr: string;
  /** For s6-rc-update: switch the database anyway (its exit codes 1 and 2). */
  readonly switched?: boolean;
}

/** A directory in LIVE/servicedirs for each longrun of the database `compiled` that has none. */
function servicedirs(live: string, compiled: string): void {
  const dir = path.join(live, 'servicedirs');
  const longruns = path.join(compiled, 'longruns');
  if (!fs.existsSync(longruns)) return;
  for (const n of fs.readFileSync(longruns, 'utf8').split('\n').filter((l) => l !== '')) fs.mkdirSync(path.join(dir, n), { recursive: true });
}

class RecordingS6rc implements CommandRunner {
  readonly calls: string[][] = [];
  /** The conversion file's content at each s6-rc-update call. */
  readonly conversions: string[] = [];
  readonly failures = new Map<string, Failure>();
  /** What `s6-rc -a list` prints. */
  readonly up = new Set<string>();
  /** What `s6-rc -u listall NAME` prints: NAME's closure, atomic services only (none unless set). */
  readonly closure = new Map<string, string[]>();
  /** s6-rc-init and s6-rc-update make LIVE/servicedirs/LONGRUN, as the real ones do (and apply then links them into the scandir). */
  servicedirs = false;

  run(argv: string[]): CommandResult {
    this.calls.push([...argv]);
    const program = argv[0] ?? '';
    const fail = this.failures.get(program);
    const ok = { code: 0, stdout: '', stderr: '' };
    const bad = (f: Failure) => ({ code: f.code, stdout: '', stderr: f.stderr });
    const opt = (flag: string) => argv[argv.indexOf(flag) + 1] ?? '';
    const last = argv[argv.length - 1] ?? '';
    switch (program) {
      case 's6-rc-compile': {
        const out = argv[argv.length - 2] ?? '';
        if (fs.existsSync(out)) return { code: 111, stdout: '', stderr: `s6-rc-compile: fatal: ${out} exists\n` };
        fs.mkdirSync(out); // partial output, as a compile that dies half-way leaves
        if (fail !== undefined) return bad(fail);
        fs.writeFileSync(path.join(out, 'n'), 'compiled\n');
        // Its longruns, for s6-rc-init and s6-rc-update to give each a directory in LIVE/servicedirs.
        const source = last;
        const longruns = fs.readdirSync(source).filter((n) => fs.existsSync(path.join(source, n, 'type')) && fs.readFileSync(path.join(source, n, 'type'), 'utf8').trim() === 'longrun');
        fs.writeFileSync(path.join(out, 'longruns'), longruns.join('\n'));
        return ok;
      }
      case 's6-rc-init': {
        if (fail !== undefined) return bad(fail);
        fs.mkdirSync(opt('-l'));
        fs.symlinkSync(opt('-c'), path.join(opt('-l'), 'compiled'));
        if (this.servicedirs) servicedirs(opt('-l'), opt('-c'));
        return ok;
      }
      case 's6-rc-update': {
        this.conversions.push(fs.readFileSync(opt('-f'), 'utf8'));
        if (fail !== undefined && fail.switched !== true) return bad(fail);
        const link = path.join(opt('-l'), 'compiled');
        fs.rmSync(link);
        fs.symlinkSync(last, link);
        if (this.servicedirs) servicedirs(opt('-l'), last);
        return fail === undefined ? ok : bad(fail);
      }
      case 's6-rc': {
        if (fail !== undefined) return bad(fail);
        const names = argv.slice(argv.indexOf('change') + 1);
        if (argv.includes('listall')) return { ...ok, stdout: argv.slice(argv.indexOf('listall') + 1).flatMap((n) => this.closure.get(n) ?? []).map((n) => `${n}\n`).join('') };
        if (argv.includes('-a')) return { ...ok, stdout: [...this.up].map((n) => `${n}\n`).join('') };
        for (const n of names) {
          if (argv.includes('-u')) this.up.add(n);
          else this.up.delete(n);
        }
        return ok;
      }
      default:
        return { code: 127, stdout: '', stderr: `${program}: not found\n` };
    }
  }

  take(): string[][] {
    return this.calls.splice(0);
  }
}

interface Setup {
  readonly data: string;
  readonly state: string;
  readonly scandir: string;
  readonly opts: ApplyOptions;
  readonly s6: RecordingS6rc;
  apply(extra?: Partial<ApplyOptions>): { code: number; out: string; err: string };
  hash(): string;
}

function setup(t: ExecutionContext, vms: Record<string, VmSpec>, prefix = ''): Setup {
  const { root, data } = dataDirWith(vms);
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const state = path.join(root, 'state');
  const scandir = path.join(root, 'scan');
  const opts: ApplyOptions = { data, state, scandir, prefix, dryRun: false, dropInvalid: false, autostart: true, rcTimeoutMs: 600_000, generator: defaultOptions };
  const s6 = new RecordingS6rc();
  return {
    data, state, scandir, opts, s6,
    apply(extra = {}) {
      let out = '';
      let err = '';
      const code = runApply({ ...opts, ...extra }, s6, { out: (s) => { out += s; }, err: (s) => { err += s; } });
      return { code, out, err };
    },
    hash: () => desiredTree(opts).hash,
  };
}

const link = (p: string): string | null => {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
};

/** Recorded calls with s6-rc-compile's staged source dir (a temporary name) shown as STAGED(HASH). */
function calls(s6: RecordingS6rc, state: string): string[][] {
  const staged = new RegExp(`^${state}/compiled/\\.vmsvc-tmp-([0-9a-f]+)\\.source-[0-9a-f-]+$`);
  return s6.take().map((c) => c.map((a) => a.replace(staged, 'STAGED($1)')));
}

const HEADER = '# vmsvc: restart the services whose definition changed\n';
const addDisk = (data: string, vm: string, disk = 'data.img') => fs.writeFileSync(path.join(data, vm, 'blk', disk), 'more\n');

/** Every path below `dir` with what it is: file content, link target or "dir". */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const child = path.join(rel, name);
      const full = path.join(dir, child);
      const st = fs.lstatSync(full);
      if (st.isSymbolicLink()) out[child] = `-> ${fs.readlinkSync(full)}`;
      else if (st.isDirectory()) {
        out[child] = `dir ${st.mtimeMs}`;
        walk(child);
      } else out[child] = `${st.mtimeMs} ${fs.readFileSync(full, 'utf8')}`;
    }
  };
  walk('');
  return out;
}

test('first run: compile, then s6-rc-init on current; current -> compiled/HASH and the source copy is kept', (t) => {
  const s = setup(t, { netvm: {}, app: { providers: ['netvm'] } }, 'vm:');
  const h1 = s.hash();
  const r = s.apply();
  t.is(r.code, 0, r.err);
  t.deepEqual(calls(s.s6, s.state), [
    ['s6-rc-compile', `${s.state}/compiled/${h1}`, `STAGED(${h1})`],
    ['s6-rc-init', '-t', '600000', '-c', `${s.state}/current`, '-l', `${s.state}/live`, '-p', 'vm:', s.scandir],
  ]);
  t.is(link(path.join(s.state, 'current')), `compiled/${h1}`);
  t.is(link(path.join(s.state, 'source')), `compiled/${h1}.source`, 'source is the live database\'s source copy');
  t.is(link(path.join(s.state, 'previous')), null);
  t.true(sameTree(path.join(s.state, 'compiled', `${h1}.source`), desiredTree(s.opts).tree));
  t.true(sameTree(path.join(s.state, 'source'), desiredTree(s.opts).tree));
  t.regex(r.out, new RegExp(`started .*/live on compiled/${h1} \\(2 VMs, 5 services, all down until \`s6-rc -l .*/live -u change vms\`\\)`));
});

test('without --prefix, s6-rc-init gets no -p; --live and program names are honoured', (t) => {
  const s = setup(t, { a: {} });
  const live = path.join(s.state, '..', 'run', 's6-rc');
  fs.mkdirSync(path.dirname(live));
  const r = s.apply({ live, programs: { compile: 's6-rc-compile', init: 's6-rc-init' } });
  t.is(r.code, 0, r.err);
  t.deepEqual(s.s6.take()[1], ['s6-rc-init', '-t', '600000', '-c', `${s.state}/current`, '-l', path.resolve(live), s.scandir]);
  const other = setup(t, { a: {} });
  const r2 = other.apply({ programs: { compile: '/opt/s6/bin/s6-rc-compile' } });
  t.is(r2.code, 111);
  t.deepEqual(other.s6.take().map((c) => c[0]), ['/opt/s6/bin/s6-rc-compile']);
  t.regex(r2.err, /s6-rc-compile failed \(exit 127\): \/opt\/s6\/bin\/s6-rc-compile /);
});

test('a changed VM: compile, then s6-rc-update with a conversion file restarting exactly that VM; previous keeps the old database', (t) => {
  const s = setup(t, { netvm: {}, app: { providers: ['netvm'] } });
  const h1 = s.hash();
  t.is(s.apply().code, 0);
  s.s6.take();
  addDisk(s.data, 'app');
  const h2 = s.hash();
  t.not(h1, h2);
  const r = s.apply();
  t.is(r.code, 0, r.err);
  t.deepEqual(calls(s.s6, s.state), [
    ['s6-rc-compile', `${s.state}/compiled/${h2}`, `STAGED(${h2})`],
    ['s6-rc', '-l', `${s.state}/live`, '-a', 'list'],
    ['s6-rc-update', '-t', '600000', '-l', `${s.state}/live`, '-f', `${s.state}/conversion`, `${s.state}/compiled/${h2}`],
  ]);
  t.deepEqual(s.s6.conversions, [`${HEADER}vm-app restart\n`]);
  t.is(fs.readFileSync(path.join(s.state, 'conversion'), 'utf8'), `${HEADER}vm-app restart\n`);
  t.is(link(path.join(s.state, 'current')), `compiled/${h2}`);
  t.is(link(path.join(s.state, 'previous')), `compiled/${h1}`);
  t.deepEqual(fs.readdirSync(path.join(s.state, 'compiled')).sort(), [h1, `${h1}.source`, h2, `${h2}.source`].sort());
  t.regex(r.out, /restart {2}vm-app \(changed: finish, run\)/);
  t.regex(r.out, new RegExp(`switched .*/live to compiled/${h2} \\(2 VMs\\): 0 added, 0 removed, 1 restarted\\n$`));
});

test('adding and removing VMs: the conversion file restarts nothing (s6-rc-update stops removed services itself)', (t) => {
  const s = setup(t, { a: {}, b: {} });
  t.is(s.apply().code, 0);
  fs.rmSync(path.join(s.data, 'b'), { recursive: true });
  makeVm(s.data, 'c');
  const r = s.apply();
  t.is(r.code, 0, r.err);
  t.deepEqual(s.s6.conversions, [HEADER]);
  t.regex(r.out, /add {6}vm-c\n.*add {6}vm-c-log\n.*stop {5}vm-b \(removed\)\n.*stop {5}vm-b-log \(removed\)\n/s);
  t.regex(r.out, /2 added, 2 removed, 0 restarted/);
});

test('unchanged input: nothing run, nothing written, one line', (t) => {
  const s = setup(t, { a: {} });
  const h1 = s.hash();
  t.is(s.apply().code, 0);
  s.s6.take();
  const before = snapshot(s.state);
  const r = s.apply();
  t.is(r.code, 0, r.err);
  t.deepEqual(s.s6.take(), []);
  t.deepEqual(snapshot(s.state), before);
  t.is(r.out, `vmsvc: ${s.state}/live already runs compiled/${h1} (1 VM); nothing to do\n`);
});

test('a failing compile: current unchanged, the new database removed, the command, exit code and stderr reported', (t) => {
  const s = setup(t, { a: {} });
  const h1 = s.hash();
  t.is(s.apply().code, 0);
  s.s6.take();
  addDisk(s.data, 'a');
  const h2 = s.hash();
  s.s6.failures.set('s6-rc-compile', { code: 1, stderr: 's6-rc-compile: fatal: bad vm-a/run\n' });
  const r = s.apply();
  t.is(r.code, 1, 'exit 1 from s6-rc-compile: the tree was refused');
  t.deepEqual(calls(s.s6, s.state), [['s6-rc-compile', `${s.state}/compiled/${h2}`, `STAGED(${h2})`]]);
  t.is(link(path.join(s.state, 'current')), `compiled/${h1}`);
  t.is(link(path.join(s.state, 'source')), `compiled/${h1}.source`, 'source still describes the live database');
  t.true(sameTree(path.join(s.state, 'rejected'), desiredTree(s.opts).tree), 'the refused tree is kept to look at');
  t.false(fs.existsSync(path.join(s.state, 'compiled', h2)));
  t.false(fs.existsSync(path.join(s.state, 'compiled', `${h2}.source`)));
  t.true(fs.existsSync(path.join(s.state, 'compiled', h1)));
  t.regex(r.err, new RegExp(`s6-rc-compile failed \\(exit 1\\): s6-rc-compile ${s.state}/compiled/${h2} ${s.state}/compiled/\\.vmsvc-tmp-${h2}\\.source-\\S+\\n`));
  t.regex(r.err, / {2}s6-rc-compile: fatal: bad vm-a\/run\n/);
  t.regex(r.err, new RegExp(`still runs compiled/${h1}, current unchanged, .*compiled/${h2} removed`));

  s.s6.failures.set('s6-rc-compile', { code: 111, stderr: 's6-rc-compile: fatal: unable to mkdir: No space left on device\n' });
  t.is(s.apply().code, 111, 'any other failure is I/O');
  s.s6.failures.clear();
  t.is(s.apply().code, 0, 'the next run compiles again');
});

test('a failing s6-rc-update that did not switch: current unchanged, new database removed, exit 111', (t) => {
  const s = setup(t, { a: {}, b: {} });
  const h1 = s.hash();
  t.is(s.apply().code, 0);
  addDisk(s.data, 'b');
  const h2 = s.hash();
  s.s6.take();
  s.s6.failures.set('s6-rc-update', { code: 4, stderr: 's6-rc-update: fatal: invalid service database\n' });
  const r = s.apply();
  t.is(r.code, 111);
  t.deepEqual(s.s6.take().map((c) => c[0]), ['s6-rc-compile', 's6-rc', 's6-rc-update']);
  t.is(link(path.join(s.state, 'current')), `compiled/${h1}`);
  t.is(link(path.join(s.state, 'previous')), null);
  t.is(fs.realpathSync(path.join(s.state, 'live', 'compiled')), path.join(fs.realpathSync(s.state), 'compiled', h1));
  t.false(fs.existsSync(path.join(s.state, 'compiled', h2)));
  t.false(fs.existsSync(path.join(s.state, 'compiled', `${h2}.source`)));
  t.regex(r.err, new RegExp(`s6-rc-update failed \\(exit 4\\): s6-rc-update -t 600000 -l ${s.state}/live -f ${s.state}/conversion ${s.state}/compiled/${h2}\\n`));
  t.regex(r.err, /invalid service database/);
  t.regex(r.err, new RegExp(`nothing changed: .*/live still runs compiled/${h1}, current unchanged`));
});

test('s6-rc-update failing after it switched (exit 1): current follows the live system, exit 1', (t) => {
  const s = setup(t, { a: {} });
  const h1 = s.hash();
  t.is(s.apply().code, 0);
  addDisk(s.data, 'a');
  const h2 = s.hash();
  s.s6.failures.set('s6-rc-update', { code: 1, stderr: 's6-rc: warning: unable to start service vm-a\n', switched: true });
  const r = s.apply();
  t.is(r.code, 1);
  t.is(link(path.join(s.state, 'current')), `compiled/${h2}`);
  t.is(link(path.join(s.state, 'previous')), `compiled/${h1}`);
  t.true(fs.existsSync(path.join(s.state, 'compiled', h2)));
  t.regex(r.err, /s6-rc-update failed \(exit 1\)/);
  t.regex(r.err, /did switch .* so current points at it/);
});

test('an update stops the up services it restarts first, and brings them up on the new database; a refused one brings them back on the old', (t) => {
  const s = setup(t, { netvm: {}, app: { providers: ['netvm'] }, other: {} });
  t.is(s.apply().code, 0);
  for (const n of ['vm-app', 'vm-app-log', 'vm-netvm', 'vm-netvm-log']) s.s6.up.add(n);
  addDisk(s.data, 'app');
  addDisk(s.data, 'other');
  const h2 = s.hash();
  s.s6.take();
  const r = s.apply();
  t.is(r.code, 0, r.err);
  const live = `${s.state}/live`;
  const list = ['s6-rc', '-l', live, '-a', 'list'];
  const update = (h: string) => ['s6-rc-update', '-t', '600000', '-l', live, '-f', `${s.state}/conversion`, `${s.state}/compiled/${h}`];
  // vm-other restarts too, but it is down: s6-rc-update's restart line for it does nothing, and nothing stops or starts it.
  const listall = ['s6-rc', '-l', live, '-u', 'listall', 'vm-app'];
  t.deepEqual(calls(s.s6, s.state).slice(1), [list, ['s6-rc', '-l', live, '-t', '600000', '-d', 'change', 'vm-app'], list, update(h2), listall, ['s6-rc', '-l', live, '-t', '600000', '-u', 'change', 'vm-app']]);
  t.deepEqual(s.s6.conversions.at(-1), `${HEADER}vm-app restart\nvm-other restart\n`);
  t.regex(r.out, /switched .* 0 added, 0 removed, 2 restarted\n$/);

  addDisk(s.data, 'app', 'more.img');
  const h3 = s.hash();
  s.s6.failures.set('s6-rc-update', { code: 4, stderr: 's6-rc-update: fatal: invalid service database\n' });
  const refused = s.apply();
  t.is(refused.code, 111);
  t.deepEqual(calls(s.s6, s.state).slice(1), [list, ['s6-rc', '-l', live, '-t', '600000', '-d', 'change', 'vm-app'], list, update(h3), listall, ['s6-rc', '-l', live, '-t', '600000', '-u', 'change', 'vm-app']]);
  t.regex(refused.err, new RegExp(`nothing changed: .*/live still runs compiled/${h2}, current unchanged`));
  t.true(s.s6.up.has('vm-app'), 'back up on the old database');

  s.s6.failures.delete('s6-rc-update');
  s.s6.failures.set('s6-rc', { code: 111, stderr: 's6-rc: fatal: unable to take locks: Resource busy\n' });
  const blind = s.apply();
  t.is(blind.code, 111);
  t.deepEqual(calls(s.s6, s.state).map((c) => c[0]), ['s6-rc-compile', 's6-rc'], 'nothing updated');
  t.false(fs.existsSync(path.join(s.state, 'compiled', h3)), 'and the new database removed');
  t.regex(blind.err, /cannot tell which services are up: s6-rc -l \S+ -a list failed \(exit 111\)/);
  t.regex(blind.err, /Resource busy/);
  t.is(link(path.join(s.state, 'current')), `compiled/${h2}`);
});

test('a failing s6-rc-init: current restored (here: removed), the database removed, exit 111', (t) => {
  const s = setup(t, { a: {} });
  const h1 = s.hash();
  s.s6.failures.set('s6-rc-init', { code: 111, stderr: 's6-rc-init: fatal: unable to supervise\n' });
  const r = s.apply();
  t.is(r.code, 111);
  t.is(link(path.join(s.state, 'current')), null);
  t.false(fs.existsSync(path.join(s.state, 'compiled', h1)));
  t.regex(r.err, /s6-rc-init failed \(exit 111\)/);
  t.regex(r.err, /nothing started; current removed/);
});

test('dry run before the first start: nothing run, nothing written, every service listed as added', (t) => {
  const s = setup(t, { netvm: {}, app: { providers: ['netvm'] } });
  const r = s.apply({ dryRun: true });
  t.is(r.code, 0, r.err);
  t.deepEqual(s.s6.take(), []);
  t.false(fs.existsSync(s.state));
  t.regex(r.out, /would compile .* and start a live s6-rc on .*scan \(2 VMs, 5 services/);
  for (const name of ['vm-app', 'vm-app-log', 'vm-netvm', 'vm-netvm-log']) t.regex(r.out, new RegExp(`add {6}${name}\\n`));
  t.regex(r.out, /add {6}vmnet-[0-9a-f]{4}\n/);
  t.regex(r.out, /nothing run, nothing written\n$/);
});

test('dry run of an update: prints what would be added, stopped and restarted; runs and writes nothing', (t) => {
  const s = setup(t, { netvm: {}, app: { providers: ['netvm'] }, old: {} });
  t.is(s.apply().code, 0);
  s.s6.take();
  addDisk(s.data, 'netvm');
  fs.rmSync(path.join(s.data, 'old'), { recursive: true });
  makeVm(s.data, 'new');
  const before = snapshot(s.state);
  const r = s.apply({ dryRun: true });
  t.is(r.code, 0, r.err);
  t.deepEqual(s.s6.take(), []);
  t.deepEqual(snapshot(s.state), before);
  t.is(r.out.split('\n').slice(1).join('\n'), [
    '  add      vm-new',
    '  add      vm-new-log',
    '  stop     vm-old (removed)',
    '  stop     vm-old-log (removed)',
    '  restart  vm-netvm (changed: finish, run)',
    '  restart  vm-app (if up: depends on vm-netvm)',
    // Hot-plugged into the provider: it goes down with it, and is attached again to the new VMM.
    ...r.out.split('\n').filter((l) => /^ {2}restart {2}vmnet-[0-9a-f]{4} \(if up: depends on vm-netvm\)$/.test(l)).slice(0, 1),
    'vmsvc: dry run: what changes in the VMs:',
    `  VM netvm: a disk added: ${s.data}/netvm/blk/data.img`,
    '  VM new: added',
    '  VM old: removed',
    'vmsvc: dry run: the supervision tree must allow 16 service directories (s6-svscan -C, default 1000), names of 19 bytes (-L, default 251) '
      + 'and 262 open files (s6rc-fdholder); s6-rc-compile and s6-rc-update need a stack of 2 MiB, s6-rc-init and s6-rc-update 272 open files',
    'vmsvc: dry run: 2 added, 2 removed, 1 restarted (+2 if up); nothing run, nothing written',
    '',
  ].join('\n'));
});

test('dry run of an update says what changes in each VM in its own terms: memory, cpus, disks, links, initramfs, autostart', (t) => {
  const s = setup(t, { netvm: {}, app: { providers: ['netvm'], config: { memory: '256M' } }, other: { initramfs: 'one' } });
  t.is(s.apply().code, 0);
  makeVm(s.data, 'db');
  fs.rmSync(path.join(s.data, 'app'), { recursive: true });
  makeVm(s.data, 'app', { providers: ['db'], disks: ['root.img', 'data.img'], config: { memory: '384M', cpus: '2', autostart: '' } });
  fs.rmSync(path.join(s.data, 'other', 'blk', 'root.img'));
  fs.writeFileSync(path.join(s.data, 'other', 'blk', 'new.img'), 'disk\n');
  fs.rmSync(path.join(s.data, 'other', 'initramfs'));
  const r = s.apply({ dryRun: true });
  t.is(r.code, 0, r.err);
  const lines = r.out.split('\n');
  const at = lines.indexOf('vmsvc: dry run: what changes in the VMs:');
  t.true(at > 0, r.out);
  t.deepEqual(lines.slice(at + 1, at + 6), [
    `  VM app: memory 256M to 384M; cpus 1 to 2; autostart on; a disk added: ${s.data}/app/blk/data.img; a link added: to db; a link removed: to netvm`,
    '  VM db: added',
    '  VM netvm: a link unplugged from its running VMM (no restart): from app',
    `  VM other: initramfs "${s.data}/other/initramfs" to none; a disk added: ${s.data}/other/blk/new.img; a disk removed: ${s.data}/other/blk/root.img`,
    'vmsvc: dry run: would then bring up the newly marked autostart 1 VM (app) and what they need',
  ]);
});

test('rotation: after three updates only current and previous databases (with their sources) remain', (t) => {
  const s = setup(t, { a: {} });
  const hashes: string[] = [];
  for (const disk of ['', 'b.img', 'c.img', 'd.img']) {
    if (disk !== '') addDisk(s.data, 'a', disk);
    hashes.push(s.hash());
    const r = s.apply();
    t.is(r.code, 0, r.err);
  }
  const [, , h3, h4] = hashes as [string, string, string, string];
  t.deepEqual(fs.readdirSync(path.join(s.state, 'compiled')).sort(), [h3, `${h3}.source`, h4, `${h4}.source`].sort());
  t.is(link(path.join(s.state, 'current')), `compiled/${h4}`);
  t.is(link(path.join(s.state, 'previous')), `compiled/${h3}`);
  t.deepEqual(fs.readdirSync(s.state).filter((n) => n.startsWith('.vmsvc-')), [], 'no temporaries or lock left');
});

test('going back to the previous input reuses its database: s6-rc-update only, no compile', (t) => {
  const s = setup(t, { a: {} });
  const h1 = s.hash();
  t.is(s.apply().code, 0);
  addDisk(s.data, 'a');
  const h2 = s.hash();
  t.is(s.apply().code, 0);
  fs.rmSync(path.join(s.data, 'a', 'blk', 'data.img'));
  s.s6.take();
  const r = s.apply();
  t.is(r.code, 0, r.err);
  t.deepEqual(s.s6.take(), [
    ['s6-rc', '-l', `${s.state}/live`, '-a', 'list'],
    ['s6-rc-update', '-t', '600000', '-l', `${s.state}/live`, '-f', `${s.state}/conversion`, `${s.state}/compiled/${h1}`],
  ]);
  t.is(link(path.join(s.state, 'current')), `compiled/${h1}`);
  t.is(link(path.join(s.state, 'previous')), `compiled/${h2}`);
});

test('a run killed after s6-rc-update switched is repaired by the next one without running anything', (t) => {
  const s = setup(t, { a: {} });
  const h1 = s.hash();
  t.is(s.apply().code, 0);
  addDisk(s.data, 'a');
  const h2 = s.hash();
  t.is(s.apply().code, 0);
  // As if killed before the links moved: the live system runs h2, current and source still say h1.
  fs.rmSync(path.join(s.state, 'current'));
  fs.symlinkSync(`compiled/${h1}`, path.join(s.state, 'current'));
  fs.rmSync(path.join(s.state, 'source'));
  fs.symlinkSync(`compiled/${h1}.source`, path.join(s.state, 'source'));
  fs.rmSync(path.join(s.state, 'previous'));
  s.s6.take();
  const r = s.apply();
  t.is(r.code, 0, r.err);
  t.deepEqual(s.s6.take(), []);
  t.is(link(path.join(s.state, 'current')), `compiled/${h2}`);
  t.is(link(path.join(s.state, 'previous')), `compiled/${h1}`);
  t.is(link(path.join(s.state, 'source')), `compiled/${h2}.source`);
  t.regex(r.out, /current and source now point at it/);
});

test('after a reboot (live directory gone) with the same input: s6-rc-init on the kept database, no compile', (t) => {
  const s = setup(t, { a: {} });
  const h1 = s.hash();
  t.is(s.apply().code, 0);
  fs.rmSync(path.join(s.state, 'live'), { recursive: true });
  s.s6.take();
  const r = s.apply();
  t.is(r.code, 0, r.err);
  t.deepEqual(s.s6.take(), [['s6-rc-init', '-t', '600000', '-c', `${s.state}/current`, '-l', `${s.state}/live`, s.scandir]]);
  t.is(link(path.join(s.state, 'current')), `compiled/${h1}`);
  t.is(link(path.join(s.state, 'previous')), null);
});

test('a leftover database without its source copy (killed compile) is compiled again', (t) => {
  const s = setup(t, { a: {} });
  const h1 = s.hash();
  fs.mkdirSync(path.join(s.state, 'compiled', h1), { recursive: true });
  const r = s.apply();
  t.is(r.code, 0, r.err);
  t.deepEqual(s.s6.take().map((c) => c[0]), ['s6-rc-compile', 's6-rc-init']);
});

test('leftovers of a failed or killed run (a partial staged copy, a database without its source) are removed by the next run, even one with nothing to do, and it says so', (t) => {
  // Before: they stayed until an apply switched databases, and on a small /run kept every compile out of space.
  const s = setup(t, { a: {} });
  const h1 = s.hash();
  t.is(s.apply().code, 0);
  const compiled = path.join(s.state, 'compiled');
  const partial = 'f'.repeat(h1.length);
  fs.mkdirSync(path.join(compiled, `.vmsvc-tmp-${partial}.source-1-00000000`, 'vm-a'), { recursive: true });
  fs.mkdirSync(path.join(compiled, partial));
  fs.writeFileSync(path.join(s.state, '.vmsvc-tmp-conversion-1-00000000'), 'half');
  const r = s.apply();
  t.is(r.code, 0, r.err);
  t.regex(r.out, /removed what an interrupted run left: compiled\/\.vmsvc-tmp-f+\.source-1-00000000, compiled\/f+, \.vmsvc-tmp-conversion-1-00000000\n/);
  t.regex(r.out, /nothing to do\n$/);
  t.deepEqual(fs.readdirSync(compiled).sort(), [h1, `${h1}.source`]);
  t.false(fs.existsSync(path.join(s.state, '.vmsvc-tmp-conversion-1-00000000')));
});

test('another apply holding the lock: refused with its pid, nothing run', (t) => {
  const s = setup(t, { a: {} });
  fs.mkdirSync(s.state, { recursive: true });
  fs.writeFileSync(path.join(s.state, '.vmsvc-apply.lock'), `${process.pid}\n`);
  const r = s.apply();
  t.is(r.code, 111);
  t.regex(r.err, new RegExp(`another vmsvc apply \\(pid ${process.pid}\\)`));
  t.deepEqual(s.s6.take(), []);
});

test('a live directory running a database vmsvc did not compile is refused', (t) => {
  const s = setup(t, { a: {} });
  const foreign = path.join(s.state, 'elsewhere');
  fs.mkdirSync(path.join(s.state, 'live'), { recursive: true });
  fs.mkdirSync(foreign);
  fs.symlinkSync(foreign, path.join(s.state, 'live', 'compiled'));
  const r = s.apply();
  t.is(r.code, 1);
  t.regex(r.err, /is not a database vmsvc compiled/);
  t.deepEqual(s.s6.take(), []);
});

test('keep-going: an invalid VM is skipped and reported, the valid ones are applied', (t) => {
  const s = setup(t, { good: {}, bad: { kernel: null } });
  const r = s.apply();
  t.is(r.code, 0, r.err);
  t.regex(r.err, /vmlinux-missing/);
  t.regex(r.err, /skipped VM bad/);
  t.regex(r.out, /\(1 VM, 2 services/);
});

// ------------------------------------------------------------------ autostart

const marked: VmSpec = { config: { autostart: '' } };

test('autostart: after s6-rc-init, s6-rc -u change on the autostart bundle (unprefixed, as s6-rc names services); live, only the newly marked pipelines', (t) => {
  const s = setup(t, { netvm: {}, app: { providers: ['netvm'], ...marked }, other: {} }, 'ext-');
  const first = s.apply({ generator: { ...defaultOptions, autostartBundle: 'boot' } });
  t.is(first.code, 0, first.err);
  const live = path.join(s.state, 'live');
  const run = calls(s.s6, s.state);
  t.deepEqual(run.map((c) => c[0]), ['s6-rc-compile', 's6-rc-init', 's6-rc', 's6-rc']);
  t.deepEqual(run.slice(2), [['s6-rc', '-l', live, '-u', 'listall', 'boot'], ['s6-rc', '-l', live, '-t', '600000', '-u', 'change', 'boot']]);
  t.regex(first.out, /autostart 1 VM \(app\) and what they need; the others down until/);
  t.regex(first.out, /vmsvc: autostart: up: app\n$/);

  makeVm(s.data, 'fresh', marked);
  fs.mkdirSync(path.join(s.data, 'other', 'config'));
  fs.writeFileSync(path.join(s.data, 'other', 'config', 'autostart'), '');
  const second = s.apply({ generator: { ...defaultOptions, autostartBundle: 'boot' } });
  t.is(second.code, 0, second.err);
  const live2 = calls(s.s6, s.state);
  t.deepEqual(live2.map((c) => c[0]), ['s6-rc-compile', 's6-rc', 's6-rc-update', 's6-rc', 's6-rc']);
  t.deepEqual(live2[4], ['s6-rc', '-l', live, '-t', '600000', '-u', 'change', 'vm-fresh-pipeline', 'vm-other-pipeline']);
  t.regex(second.out, /vmsvc: autostart: up: fresh, other\n$/);

  // Marks unchanged: a live update runs no s6-rc.
  addDisk(s.data, 'netvm');
  const third = s.apply({ generator: { ...defaultOptions, autostartBundle: 'boot' } });
  t.is(third.code, 0, third.err);
  t.deepEqual(calls(s.s6, s.state).map((c) => c[0]), ['s6-rc-compile', 's6-rc', 's6-rc-update']);
});

test('autostart: the links come up first, 40 to a change (s6rc-oneshot-runner serves 40 at once), then the rest; links already up are left alone', (t) => {
  const clients = Array.from({ length: 45 }, (_, i) => `app${String(i).padStart(2, '0')}`);
  const s = setup(t, { netvm: {}, ...Object.fromEntries(clients.map((c) => [c, { providers: ['netvm'], ...marked }])) });
  const links = [...desiredTree(s.opts).tree.keys()].filter((k) => /^vmnet-[0-9a-f]{4}\/type$/.test(k)).map((k) => k.slice(0, -'/type'.length)).sort();
  t.is(links.length, 45);
  const longruns = ['vm-netvm-log', 'vm-netvm', ...clients.flatMap((c) => [`vm-${c}-log`, `vm-${c}`])];
  // s6-rc's order: the links among the longruns, as listall prints it.
  s.s6.servicedirs = true;
  fs.mkdirSync(s.scandir);
  s.s6.closure.set('autostart', [...longruns.slice(0, 3), ...links, ...longruns.slice(3)]);
  s.s6.up.add(links[7]!);
  const r = s.apply();
  t.is(r.code, 0, r.err);
  const live = path.join(s.state, 'live');
  const down = links.filter((l) => l !== links[7]);
  t.deepEqual(calls(s.s6, s.state).slice(2), [
    ['s6-rc', '-l', live, '-u', 'listall', 'autostart'],
    ['s6-rc', '-l', live, '-a', 'list'],
    ['s6-rc', '-l', live, '-t', '600000', '-u', 'change', ...down.slice(0, 40)],
    ['s6-rc', '-l', live, '-t', '600000', '-u', 'change', ...down.slice(40)],
    ['s6-rc', '-l', live, '-t', '600000', '-u', 'change', 'autostart'],
  ]);
  t.regex(r.out, /vmsvc: autostart: up: app00, .*, app44\n$/);
});

test('autostart: a VM that does not come up makes apply exit 1, with the database loaded and current pointing at it', (t) => {
  const s = setup(t, { app: marked });
  s.s6.failures.set('s6-rc', { code: 1, stderr: 's6-rc: warning: unable to start service vm-app: command exited 1\n' });
  const r = s.apply();
  t.is(r.code, 1);
  t.regex(r.err, /s6-rc failed \(exit 1\): s6-rc -l \S+ -t 600000 -u change autostart/);
  t.regex(r.err, /unable to start service vm-app/);
  t.regex(r.err, /autostart: not every VM came up \(app\); the database is loaded/);
  t.is(fs.readlinkSync(path.join(s.state, 'current')), `compiled/${s.hash()}`);
});

test('autostart: --no-autostart and a dry run run no s6-rc; the dry run says what it would bring up', (t) => {
  const s = setup(t, { netvm: {}, app: { providers: ['netvm'], ...marked } });
  const dry = s.apply({ dryRun: true });
  t.is(dry.code, 0, dry.err);
  t.deepEqual(s.s6.take(), []);
  t.regex(dry.out, /autostart 1 VM \(app\) and what they need/);
  const off = s.apply({ autostart: false });
  t.is(off.code, 0, off.err);
  t.deepEqual(calls(s.s6, s.state).map((c) => c[0]), ['s6-rc-compile', 's6-rc-init']);
  t.regex(off.out, /all down until/);
  makeVm(s.data, 'fresh', marked);
  const dryLive = s.apply({ dryRun: true });
  t.deepEqual(s.s6.take(), []);
  t.regex(dryLive.out, /would then bring up the newly marked autostart 1 VM \(fresh\)/);
});
