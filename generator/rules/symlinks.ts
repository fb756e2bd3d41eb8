/**
 * Symbolic links in a VM's files: the data directory is untrusted, so a link
 * must stay inside it, resolve, and reach a path the VMM can be given exactly.
 * The kernel, initramfs and disk image rules ask this before judging what the file is.
 */
import * as path from 'node:path';
import { CONTROL_CHAR, printable } from '../util/bytes.js';
import { error, type Diagnostic, type RuleOf } from './diagnostic.js';
import type { Node } from './scanned.js';
import { ANY_VMM_UNSAFE, type VmmUnsafe } from './vm-name.js';

/**
 * White space at the end of a path: cloud-hypervisor's option parser trims
 * every value (option_parser/src/lib.rs, parse_inner, at v53.0), Unicode
 * white space included (Rust's trim), so `path=.../x ` opens `.../x`. A
 * name vmsvc writes ends in .img, vmlinux or initramfs; only a link's
 * target can end so.
 */
const TRAILING_SPACE = /\s$/u;

/** `unsafe`: what the option value the path goes into cannot hold; by default the characters no VMM takes. */
export function symlinkDiagnostic(vm: string, p: string, node: Node, danglingRule: RuleOf<'error'>, unsafe: VmmUnsafe = ANY_VMM_UNSAFE): Diagnostic | null {
  if (node.kind === 'symlink-undecodable') {
    return error('name-not-utf8', p, vm, `"${printable(path.basename(p))}" links to ${printable(node.target)}, whose name is not valid UTF-8`,
      'VMM arguments are written as UTF-8, so the file it links to cannot be passed exactly; rename it');
  }
  // The link-free path the VMM is given for a link (check.ts vmmPath).
  const resolved = 'resolved' in node ? node.resolved : null;
  if (resolved !== null && (unsafe.pattern.test(resolved) || CONTROL_CHAR.test(resolved))) {
    return error('path-vmm-unsafe', p, vm, `"${printable(path.basename(p))}" links to "${printable(resolved)}" in the data directory, whose path contains a control character or one of ${unsafe.shown}`,
      'the VMM is given the file the link reaches, and splits its options on these characters; rename that file or the directories above it');
  }
  if (resolved !== null && TRAILING_SPACE.test(resolved)) {
    return error('path-vmm-unsafe', p, vm, `"${printable(path.basename(p))}" links to "${printable(resolved)}" in the data directory, whose name ends in white space`,
      'the VMM trims white space off the ends of its option values, so it would open another file; rename the file the link reaches');
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
