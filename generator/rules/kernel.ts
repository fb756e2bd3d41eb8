/** A VM's vmlinux (required, an uncompressed ELF image) and its optional initramfs. */
import * as path from 'node:path';
import { printable } from '../util/bytes.js';
import { describe } from './describe.js';
import { error, type Diagnostic } from './diagnostic.js';
import type { ScannedVm } from './scanned.js';
import { symlinkDiagnostic } from './symlinks.js';
import type { OtherBootHeaders } from '../util/kernel-format.js';
import type { KernelProbes } from '../vmm/index.js';

export function kernelDiagnostics(vm: ScannedVm, probes: KernelProbes): Diagnostic[] {
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
      if (probes.decidesOnBytes !== null && node.size < probes.decidesOnBytes) {
        return [error('vmlinux-short', p, vm.name,
          `vmlinux is ${node.size} bytes, shorter than the ${probes.decidesOnBytes} bytes the VMM reads to choose how to boot it: it would look for a multiboot or bzImage header in memory past the file's end`,
          'use a real kernel image (every vmlinux is megabytes)')];
      }
      return otherBootHeaders(vm, p, format.other, probes);
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

/**
 * An ELF vmlinux that also carries another boot protocol's header the VMM
 * looks for first: the VMM would boot it by that header, under a loader
 * whose grammar for the other arguments vmsvc does not write for.
 */
function otherBootHeaders(vm: ScannedVm, p: string, found: OtherBootHeaders, probes: KernelProbes): Diagnostic[] {
  const out: Diagnostic[] = [];
  const hint = 'use the vmlinux a Linux build leaves at its top level (an ELF image with a PVH entry note); vmsvc boots no multiboot or bzImage kernels';
  if (found.multibootAt !== null && probes.multiboot !== null) {
    out.push(error('vmlinux-multiboot', p, vm.name, `vmlinux holds a multiboot header at offset ${found.multibootAt}: ${probes.multiboot}`, hint));
  }
  if (found.linuxSetupHeader && probes.linuxSetupHeader !== null) {
    out.push(error('vmlinux-setup-header', p, vm.name, `vmlinux holds a Linux boot protocol setup header ("HdrS" at 0x202): ${probes.linuxSetupHeader}`, hint));
  }
  return out;
}

/** Optional: a kernel whose drivers are modules (Debian's) needs one to reach its disks. */
export function initramfsDiagnostics(vm: ScannedVm): Diagnostic[] {
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
