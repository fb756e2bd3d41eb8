/**
 * Who the VMMs run as, judged once for the tree: the isolation of the VMs
 * from each other and from the host rests on each VMM being a uid of its
 * own (--vmm-user per-vm, the default). The other choices stay possible,
 * said out loud.
 */
import { warning, type Diagnostic } from './diagnostic.js';

/** What --vmm-user asked for (pipeline/identities.ts Principal). */
export type VmmUserKind = 'per-vm' | 'shared' | 'root';

export function identityDiagnostics(vmmUser: VmmUserKind, root: string): Diagnostic[] {
  switch (vmmUser) {
    case 'per-vm':
      return [];
    case 'root':
      return [warning('vmm-root', root, null, 'every VMM runs as root (--vmm-user root): a guest that escapes into its VMM owns the host',
        'drop --vmm-user, so that each VMM runs as a uid of its own (per-vm)')];
    case 'shared':
      return [warning('vmm-shared-user', root, null,
        'every VMM runs as one account (--vmm-user): a guest that escapes into its VMM can signal and trace the other VMMs, attach to their taps, talk to their sockets and open their disks',
        'drop --vmm-user, so that each VMM runs as a uid of its own (per-vm)')];
  }
}
