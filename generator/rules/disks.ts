/** A VM's blk/ directory and the *.img disk images in it. */
import * as path from 'node:path';
import { CONTROL_CHAR, printable } from '../util/bytes.js';
import { describe } from './describe.js';
import { error, type Diagnostic } from './diagnostic.js';
import { showMagic } from '../util/image-format.js';
import type { ScannedImage, ScannedVm } from './scanned.js';
import { symlinkDiagnostic } from './symlinks.js';
import type { VmmUnsafe } from './vm-name.js';

/** `unsafe`: what the VMM's disk option value cannot hold. */
export function diskDiagnostics(vm: ScannedVm, unsafe: VmmUnsafe): Diagnostic[] {
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
  for (const img of vm.images) out.push(...imageDiagnostics(vm.name, img, unsafe));
  return out;
}

function imageDiagnostics(vm: string, img: ScannedImage, unsafe: VmmUnsafe): Diagnostic[] {
  const shown = printable(img.name);
  if (CONTROL_CHAR.test(img.name)) {
    return [error('name-control-char', img.path, vm, `disk image name "${shown}" contains a control character`, 'rename the image')];
  }
  if (unsafe.pattern.test(img.name)) {
    return [error('path-vmm-unsafe', img.path, vm, `disk image name "${shown}" contains one of ${unsafe.shown}`,
      'the VMM splits its --disk option on these characters, so the path would be cut apart; rename the image')];
  }
  const linkProblem = symlinkDiagnostic(vm, img.path, img.node, 'img-dangling-symlink', unsafe);
  if (linkProblem !== null) return [linkProblem];
  const node = img.node;
  if (node.kind === 'unstatable') return [error('img-unreadable', img.path, vm, `disk image "${shown}" cannot be examined (${node.code})`, 'check the file')];
  if (node.kind !== 'file') {
    return [error('img-not-file', img.path, vm, `disk image "${shown}" is a ${describe(node)}, not a regular file`,
      'each blk/*.img must be a regular file (or a link to one inside the data directory)')];
  }
  if (!node.readable) return [error('img-unreadable', img.path, vm, `disk image "${shown}" cannot be read`, 'make it readable (chmod a+r)')];
  if (node.size === 0) return [error('img-empty', img.path, vm, `disk image "${shown}" is empty`, 'a virtio-blk disk needs at least one sector; copy the image again')];
  const sig = img.signature;
  if (sig !== null) {
    return [error('img-not-raw', img.path, vm, `disk image "${shown}" starts with the ${sig.format} signature (${showMagic(sig.magic)}): ${sig.why}`, sig.hint)];
  }
  return [];
}
