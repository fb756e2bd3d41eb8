/**
 * Symbolic links in a VM's files: the data directory is untrusted, so a link
 * must stay inside it, resolve, and reach a path the VMM can be given exactly.
 * The kernel, initramfs and disk image rules ask this before judging what the file is.
 */
import * as path from 'node:path';
import { CONTROL_CHAR, printable } from '../util/bytes.js';
import { error, type Diagnostic, type RuleOf } from './diagnostic.js';
import type { Node } from './scanned.js';
import { VMM_UNSAFE } from './vm-name.js';

export function symlinkDiagnostic(vm: string, p: string, node: Node, danglingRule: RuleOf<'error'>): Diagnostic | null {
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
