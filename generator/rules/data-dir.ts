/**
 * The data directory as a whole: how many entries it holds, whether its path
 * can be passed to the VMM, its top-level entries that are not VM
 * directories, and names that are not UTF-8 anywhere in it.
 */
import * as path from 'node:path';
import { CONTROL_CHAR, printable } from '../util/bytes.js';
import { describe } from './describe.js';
import { error, warning, type Diagnostic } from './diagnostic.js';
import type { ScannedTree, ScannedVm } from './scanned.js';
import type { VmmUnsafe } from './vm-name.js';

/** `outputRoot` is the data dir's path at run time, the one the VMM is given; `unsafe`, what its option values cannot hold. */
export function dataDirDiagnostics(tree: ScannedTree, outputRoot: string, maxVms: number, unsafe: VmmUnsafe): Diagnostic[] {
  if (tree.entryCount > maxVms) {
    return [error('too-many-vms', tree.root, null, `the data directory holds ${tree.entryCount} entries, more than the limit of ${maxVms} VMs`,
      'remove entries, or raise the limit with --max-vms if this many VMs is intended')];
  }
  const out: Diagnostic[] = [];
  if (unsafe.pattern.test(outputRoot) || CONTROL_CHAR.test(outputRoot)) {
    out.push(error('path-vmm-unsafe', tree.root, null, `data directory path "${printable(outputRoot)}" contains a control character or one of ${unsafe.shown}`,
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

/** Entries below a VM dir whose names are not UTF-8. */
export function vmUndecodableDiagnostics(vm: ScannedVm): Diagnostic[] {
  return vm.undecodable.map((p) => error('name-not-utf8', p, vm.name, `"${shownUndecodable(p)}" has a name that is not valid UTF-8`,
    'VMM arguments are written as UTF-8, so this file cannot be passed exactly; rename it'));
}

/** An undecodable entry's path: its name comes escaped from the scan (\xNN), the directory above it raw. */
function shownUndecodable(p: string): string {
  return `${printable(path.dirname(p))}/${path.basename(p)}`;
}
