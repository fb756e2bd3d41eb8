/**
 * Step 2: judges the scanned facts. Pure: the same scan and options always give
 * the same diagnostics, in the same order. Whatever passes here is a VM whose
 * name and paths can be passed to s6-rc and the VMM exactly as they are.
 */
import * as path from 'node:path';
import { compareBytes, CONTROL_CHAR, printable, sortedBytewise } from '../util/bytes.js';
import { error, RULES, warning, type Diagnostic, type RuleOf } from '../rules/diagnostic.js';
import { longestSocketPath, type GeneratorOptions } from './options.js';
import { LINK_CAPACITY } from './links.js';
import { dependentsOf, findCycles } from '../util/provider-graph.js';
import type { Node, ScannedFile, ScannedTree, ScannedVm } from './scan.js';
import { checkVmName, VMM_UNSAFE, type VmName } from '../rules/vm-name.js';
import { vmmDiagnostics } from '../rules/vmm-rules.js';

export interface ValidVm {
  readonly name: VmName;
  readonly dir: string;
  readonly kernel: string;
  /** The optional initramfs, or null. */
  readonly initramfs: string | null;
  /** Absolute image paths, bytewise-sorted by file name. */
  readonly disks: readonly string[];
  /** Bytewise-sorted. */
  readonly providers: readonly VmName[];
}

export interface SkippedVm {
  readonly name: string;
  /** A person-readable reason: the rules it broke, or the provider it needs. */
  readonly reason: string;
  /** The skipped provider it needs, when that is why it is skipped; null when it is invalid itself. */
  readonly needs: string | null;
}

export interface CheckResult {
  /** VMs that are valid and need only valid VMs, bytewise-sorted by name. */
  readonly vms: readonly ValidVm[];
  /** Sorted by path, then rule. */
  readonly diagnostics: readonly Diagnostic[];
  /** VMs left out of a keep-going tree, bytewise-sorted by name. */
  readonly skipped: readonly SkippedVm[];
}

export function hasErrors(result: CheckResult): boolean {
  return result.diagnostics.some((d) => d.severity === 'error');
}

export function checkTree(tree: ScannedTree, opts: GeneratorOptions): CheckResult {
  const outputRoot = opts.dataDirAtRuntime ?? tree.root;
  const diagnostics: Diagnostic[] = [...treeDiagnostics(tree, outputRoot, opts.maxVms), ...vmmDiagnostics(opts.vmm, opts.memory, opts.userConsole, opts.accel, tree.root)];
  const vmNames = new Set(tree.vmNames);
  const graph = new Map<string, string[]>();
  // path.join(outputRoot, name) is this prefix + name for any entry name; see validVm.
  const vmPrefix = path.join(outputRoot, 'x').slice(0, -1);
  // One walk over the scanned VMs (each is read from disk as it comes), keeping
  // only diagnostics and what a valid VM will be; validity is known after it.
  const candidates = new Map<string, ValidVm>();
  for (const vm of tree.vms) {
    // One VM can bring any number of problems: push(...list) would pass them
    // all as arguments and overflow the stack past about 100,000.
    for (const d of vmDiagnostics(vm, opts)) diagnostics.push(d);
    for (const d of unknownProviderDiagnostics(vm, vmNames)) diagnostics.push(d);
    const providers = sortedBytewise(vm.providers
      .filter((p) => p.node.kind !== 'directory' && p.name !== vm.name && vmNames.has(p.name))
      .map((p) => p.name));
    graph.set(vm.name, providers);
    candidates.set(vm.name, validVm(vm, vmPrefix, providers));
  }
  const cycles = findCycles(graph);
  for (const cycle of cycles) diagnostics.push(cycleDiagnostic(tree, cycle));

  const invalid = new Set<string>();
  for (const d of diagnostics) if (d.severity === 'error' && d.vm !== null) invalid.add(d.vm);
  for (const cycle of cycles) for (const vm of cycle) invalid.add(vm);
  const dependents = dependentsOf(graph, invalid);
  // Only VMs that will be generated get link numbers: the links of a broken
  // VM, or of one that needs a broken provider, take no address.
  let linkCount = 0;
  for (const [name, providers] of graph) if (!invalid.has(name) && !dependents.has(name)) linkCount += providers.length;
  if (linkCount > LINK_CAPACITY) {
    diagnostics.push(error('links-exhausted', tree.root, null, `${linkCount} network links, but 100.64.0.0/16 gives only ${LINK_CAPACITY} client addresses`,
      'each providers/net entry is a link with its own address; remove links until there are at most 65534'));
  }

  // These make every VM unusable; other tree-level errors (an undecodable
  // entry) only block a strict run.
  const treeBroken = diagnostics.some((d) => d.vm === null && RULES[d.rule].breaksTree);
  const reasons = invalidReasons(diagnostics);

  const skipped: SkippedVm[] = [];
  const vms: ValidVm[] = [];
  for (const name of sortedBytewise(tree.vmNames)) {
    if (invalid.has(name) || treeBroken) {
      skipped.push({ name, reason: reasons.get(name) ?? (treeBroken ? 'the data directory itself is invalid' : 'invalid (provider-cycle)'), needs: null });
    } else if (dependents.has(name)) {
      const needs = dependents.get(name)!;
      skipped.push({ name, reason: `needs provider ${printable(needs)}, which is skipped`, needs });
    } else {
      vms.push(candidates.get(name)!);
    }
  }
  diagnostics.sort((a, b) => compareBytes(a.path, b.path) || compareBytes(a.rule, b.rule) || compareBytes(a.message, b.message));
  return { vms, diagnostics, skipped };
}

/**
 * Paths are written as they will be at run time: below the output root, whose
 * normalised form with a slash is `vmPrefix`. They are what path.join would
 * give (names are single path components), but built by concatenation:
 * path.join returns each path as a rope of a dozen small strings, and these
 * are kept until the tree is written.
 */
function validVm(vm: ScannedVm, vmPrefix: string, providers: readonly string[]): ValidVm {
  const dir = `${vmPrefix}${vm.name}`;
  return {
    name: vm.name as VmName,
    dir,
    kernel: vmmPath(vmPrefix, vm.vmlinux, `${dir}/vmlinux`),
    initramfs: vm.initramfs.kind === 'missing' ? null : vmmPath(vmPrefix, vm.initramfs, `${dir}/initramfs`),
    disks: [...vm.images].sort((a, b) => compareBytes(a.name, b.name)).map((img) => vmmPath(vmPrefix, img.node, `${dir}/blk/${img.name}`)),
    providers: providers as readonly VmName[],
  };
}

/**
 * A link's file is given to the VMM by the link-free path the scan resolved,
 * placed below the run-time data dir: the kernel then reaches the file that
 * was checked, where it was checked, and no link is followed again at run time.
 */
function vmmPath(vmPrefix: string, node: Node, asWritten: string): string {
  return 'resolved' in node && node.resolved !== null ? `${vmPrefix}${node.resolved}` : asWritten;
}

/** An undecodable entry's path: its name comes escaped from the scan (\xNN), the directory above it raw. */
function shownUndecodable(p: string): string {
  return `${printable(path.dirname(p))}/${path.basename(p)}`;
}

/** Each VM with errors of its own -> `invalid (rule, ...)`: one pass over the diagnostics, not one per skipped VM. */
function invalidReasons(diagnostics: readonly Diagnostic[]): Map<string, string> {
  const rules = new Map<string, Set<string>>();
  for (const d of diagnostics) {
    if (d.severity !== 'error' || d.vm === null) continue;
    let set = rules.get(d.vm);
    if (set === undefined) rules.set(d.vm, (set = new Set()));
    set.add(d.rule);
  }
  const reasons = new Map<string, string>();
  for (const [vm, set] of rules) reasons.set(vm, `invalid (${sortedBytewise(set).join(', ')})`);
  return reasons;
}

function treeDiagnostics(tree: ScannedTree, outputRoot: string, maxVms: number): Diagnostic[] {
  if (tree.entryCount > maxVms) {
    return [error('too-many-vms', tree.root, null, `the data directory holds ${tree.entryCount} entries, more than the limit of ${maxVms} VMs`,
      'remove entries, or raise the limit with --max-vms if this many VMs is intended')];
  }
  const out: Diagnostic[] = [];
  if (VMM_UNSAFE.test(outputRoot) || CONTROL_CHAR.test(outputRoot)) {
    out.push(error('path-vmm-unsafe', tree.root, null, `data directory path "${printable(outputRoot)}" contains a control character or one of , " [ ]`,
      'the VMM splits its options on these characters, so no disk or kernel path below it can be passed exactly; mount or link the data directory at a plain path'));
  }
  for (const p of tree.undecodable) {
    out.push(error('name-not-utf8', p, null, `entry "${shownUndecodable(p)}" has a name that is not valid UTF-8`,
      'service names and VMM arguments are written as UTF-8; rename it'));
  }
  for (const other of tree.others) {
    const what = other.node.kind === 'symlink' ? 'a symbolic link' : `a ${describe(other.node)}`;
    if (other.node.kind === 'symlink') {
      out.push(error('vm-dir-symlink', other.path, other.name, `"${printable(other.name)}" is ${what}, not a VM directory`,
        'VM directories must be real directories inside the data directory; move the directory here instead of linking to it'));
    } else {
      out.push(warning('entry-not-directory', other.path, null, `"${printable(other.name)}" is ${what}, not a VM directory; skipped`,
        'every entry of the data directory should be a directory svc/data/<name>/; remove or move this one'));
    }
  }
  if (tree.vmNames.length === 0 && !tree.others.some((o) => o.node.kind === 'symlink')) {
    out.push(warning('data-empty', tree.root, null, 'the data directory holds no VM directory',
      'create one directory per VM holding vmlinux and blk/*.img; the generated tree has only the empty bundle'));
  }
  return out;
}

function vmDiagnostics(vm: ScannedVm, opts: GeneratorOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  out.push(...checkVmName(vm.name, vm.dir, {
    livePrefix: opts.livePrefix,
    longestSocketPath: (name) => longestSocketPath(opts, name),
  }));
  for (const p of vm.undecodable) {
    out.push(error('name-not-utf8', p, vm.name, `"${shownUndecodable(p)}" has a name that is not valid UTF-8`,
      'VMM arguments are written as UTF-8, so this file cannot be passed exactly; rename it'));
  }
  out.push(...kernelDiagnostics(vm), ...initramfsDiagnostics(vm));
  // One per image and per provider entry: as many as the VM dir holds.
  for (const d of diskDiagnostics(vm)) out.push(d);
  for (const d of providerDiagnostics(vm)) out.push(d);
  return out;
}

function kernelDiagnostics(vm: ScannedVm): Diagnostic[] {
  const p = path.join(vm.dir, 'vmlinux');
  const node = vm.vmlinux;
  const linkProblem = symlinkDiagnostic(vm.name, p, node, 'vmlinux-missing');
  if (linkProblem !== null) return [linkProblem];
  if (node.kind === 'missing') {
    return [error('vmlinux-missing', p, vm.name, `VM "${printable(vm.name)}" has no vmlinux`,
      'put the uncompressed kernel image for this VM at this path')];
  }
  if (node.kind === 'unstatable') {
    return [error('vmlinux-unreadable', p, vm.name, `vmlinux cannot be examined (${node.code})`, 'check the file and its permissions')];
  }
  if (node.kind !== 'file') {
    return [error('vmlinux-not-file', p, vm.name, `vmlinux is a ${describe(node)}, not a regular file`,
      'replace it with the uncompressed kernel image file')];
  }
  if (!node.readable || vm.vmlinuxFormat === null) {
    return [error('vmlinux-unreadable', p, vm.name, 'vmlinux cannot be read', 'make it readable by the user running vmsvc (chmod a+r)')];
  }
  if (node.size === 0) {
    return [error('vmlinux-empty', p, vm.name, 'vmlinux is empty', 'copy the kernel image again; the copy may have failed')];
  }
  const format = vm.vmlinuxFormat;
  const extract = 'get the ELF image with the kernel tree\'s scripts/extract-vmlinux (extract-vmlinux bzImage > vmlinux), or use the vmlinux the kernel build leaves at its top level';
  switch (format.kind) {
    case 'elf':
      return [];
    case 'bzimage':
      return [error('vmlinux-compressed', p, vm.name, 'vmlinux is a bzImage (compressed, self-extracting kernel), not an uncompressed ELF vmlinux', extract)];
    case 'compressed':
      return [error('vmlinux-compressed', p, vm.name, `vmlinux is ${format.codec}-compressed, not an uncompressed ELF vmlinux`,
        `decompress it first, or ${extract}`)];
    case 'unknown':
      return [error('vmlinux-not-elf', p, vm.name, 'vmlinux is not an ELF image (no \\x7fELF magic)',
        `the VMM boots an uncompressed ELF vmlinux directly; ${extract}`)];
  }
}

/** Optional: a kernel whose drivers are modules (Debian's) needs one to reach its disks. */
function initramfsDiagnostics(vm: ScannedVm): Diagnostic[] {
  const p = path.join(vm.dir, 'initramfs');
  const node = vm.initramfs;
  if (node.kind === 'missing') return [];
  const linkProblem = symlinkDiagnostic(vm.name, p, node, 'initramfs-not-file');
  if (linkProblem !== null) return [linkProblem];
  const hint = 'initramfs, when present, must be a regular, readable, non-empty file (a cpio archive, compressed or not); remove it to boot without one';
  if (node.kind === 'unstatable') return [error('initramfs-not-file', p, vm.name, `initramfs cannot be examined (${node.code})`, hint)];
  if (node.kind !== 'file') return [error('initramfs-not-file', p, vm.name, `initramfs is a ${describe(node)}, not a regular file`, hint)];
  if (!node.readable) return [error('initramfs-not-file', p, vm.name, 'initramfs cannot be read', hint)];
  if (node.size === 0) return [error('initramfs-not-file', p, vm.name, 'initramfs is empty', hint)];
  return [];
}

function diskDiagnostics(vm: ScannedVm): Diagnostic[] {
  const blkPath = path.join(vm.dir, 'blk');
  if (vm.blk.kind === 'missing') {
    return [error('blk-missing', blkPath, vm.name, `VM "${printable(vm.name)}" has no blk/ directory`,
      'create blk/ with at least one disk image named *.img (the root file system, found by PARTLABEL=root)')];
  }
  if (vm.blk.kind === 'unstatable') {
    return [error('blk-not-directory', blkPath, vm.name, `blk cannot be examined (${vm.blk.code})`, 'check the permissions of the VM directory')];
  }
  if (vm.blk.kind !== 'directory') {
    return [error('blk-not-directory', blkPath, vm.name, `blk is a ${describe(vm.blk)}, not a directory`,
      'blk must be a real directory holding the *.img files (symbolic links are not followed here)')];
  }
  if (vm.images.length === 0) {
    return [error('blk-no-images', blkPath, vm.name, 'blk/ holds no file ending in .img',
      'put at least one disk image in blk/ with a name ending in .img; other files there are ignored')];
  }
  const out: Diagnostic[] = [];
  for (const img of vm.images) out.push(...imageDiagnostics(vm.name, img));
  return out;
}

function imageDiagnostics(vm: string, img: ScannedFile): Diagnostic[] {
  const shown = printable(img.name);
  if (CONTROL_CHAR.test(img.name)) {
    return [error('name-control-char', img.path, vm, `disk image name "${shown}" contains a control character`, 'rename the image')];
  }
  if (VMM_UNSAFE.test(img.name)) {
    return [error('path-vmm-unsafe', img.path, vm, `disk image name "${shown}" contains one of , " [ ]`,
      'the VMM splits its --disk option on these characters, so the path would be cut apart; rename the image')];
  }
  const linkProblem = symlinkDiagnostic(vm, img.path, img.node, 'img-dangling-symlink');
  if (linkProblem !== null) return [linkProblem];
  const node = img.node;
  if (node.kind === 'unstatable') return [error('img-unreadable', img.path, vm, `disk image "${shown}" cannot be examined (${node.code})`, 'check the file')];
  if (node.kind !== 'file') {
    return [error('img-not-file', img.path, vm, `disk image "${shown}" is a ${describe(node)}, not a regular file`,
      'each blk/*.img must be a regular file (or a link to one inside the data directory)')];
  }
  if (!node.readable) return [error('img-unreadable', img.path, vm, `disk image "${shown}" cannot be read`, 'make it readable (chmod a+r)')];
  if (node.size === 0) return [error('img-empty', img.path, vm, `disk image "${shown}" is empty`, 'a virtio-blk disk needs at least one sector; copy the image again')];
  return [];
}

function providerDiagnostics(vm: ScannedVm): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [node, rel] of [[vm.providersDir, 'providers'], [vm.providersNetDir, 'providers/net']] as const) {
    if (node.kind === 'unstatable') {
      out.push(error('providers-not-directory', path.join(vm.dir, rel), vm.name, `${rel} cannot be examined (${node.code})`,
        'check the permissions of the VM directory'));
      return out;
    }
    if (node.kind !== 'missing' && node.kind !== 'directory') {
      out.push(error('providers-not-directory', path.join(vm.dir, rel), vm.name, `${rel} is a ${describe(node)}, not a directory`,
        `${rel} must be a real directory; each file in providers/net/ names a VM that provides networking`));
      return out;
    }
  }
  for (const p of vm.providers) {
    const shown = printable(p.name);
    if (p.node.kind === 'directory') {
      out.push(error('provider-not-file', p.path, vm.name, `provider entry "${shown}" is a directory`,
        'providers/net/ holds one empty file per provider VM, named after it'));
    } else if (p.name === vm.name) {
      out.push(error('provider-self', p.path, vm.name, `VM "${shown}" names itself as its network provider`, 'remove this file'));
    }
  }
  return out;
}

/** Against the names of all VM dirs, valid or not: an invalid provider is not an unknown one. */
function unknownProviderDiagnostics(vm: ScannedVm, known: ReadonlySet<string>): Diagnostic[] {
  return vm.providers
    .filter((p) => p.node.kind !== 'directory' && p.name !== vm.name && !known.has(p.name))
    .map((p) => error('provider-unknown', p.path, vm.name, `provider "${printable(p.name)}" names no VM`,
      `there is no directory ${printable(p.name)}/ in the data directory; create that VM or remove this file`));
}

function cycleDiagnostic(tree: ScannedTree, cycle: readonly string[]): Diagnostic {
  const first = cycle[0]!;
  const second = cycle[1]!;
  const shown = cycle.map(printable).join(' -> ');
  return error('provider-cycle', path.join(tree.root, first, 'providers', 'net', second), first,
    `VMs provide for each other in a cycle: ${shown}`,
    'no VM in a cycle can start before the others; remove one providers/net entry to break it');
}

function symlinkDiagnostic(vm: string, p: string, node: Node, danglingRule: RuleOf<'error'>): Diagnostic | null {
  if (node.kind === 'symlink-undecodable') {
    return error('name-not-utf8', p, vm, `"${printable(path.basename(p))}" links to ${printable(node.target)}, whose name is not valid UTF-8`,
      'VMM arguments are written as UTF-8, so the file it links to cannot be passed exactly; rename it');
  }
  if ('resolved' in node && node.resolved !== null && (VMM_UNSAFE.test(node.resolved) || CONTROL_CHAR.test(node.resolved))) {
    return error('path-vmm-unsafe', p, vm, `"${printable(path.basename(p))}" links to "${printable(node.resolved)}" in the data directory, whose path contains a control character or one of , " [ ]`,
      'the VMM is given the file the link reaches, and splits its options on these characters; rename that file or the directories above it');
  }
  if (node.kind === 'symlink-escapes') {
    return error('symlink-escapes', p, vm, `"${printable(path.basename(p))}" links to ${printable(node.target)}, outside the data directory`,
      'the data directory is untrusted: links may only point inside it; copy the file into the data directory');
  }
  if (node.kind === 'symlink-loop') {
    return error('symlink-loop', p, vm, `"${printable(path.basename(p))}" is a symbolic link that loops`, 'fix or remove the link');
  }
  if (node.kind === 'dangling-symlink') {
    return error(danglingRule, p, vm, `"${printable(path.basename(p))}" is a symbolic link to nothing`, 'fix or remove the link');
  }
  return null;
}

function describe(node: Node): string {
  switch (node.kind) {
    case 'char-device':
      return 'character device';
    case 'block-device':
      return 'block device';
    case 'fifo':
      return 'FIFO';
    case 'symlink':
      return 'symbolic link';
    case 'missing':
    case 'dangling-symlink':
      return 'missing file';
    case 'symlink-loop':
    case 'symlink-escapes':
    case 'symlink-undecodable':
      return 'unusable link';
    case 'unstatable':
      return `file that cannot be examined (${node.code})`;
    default:
      return node.kind;
  }
}
