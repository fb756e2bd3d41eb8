/**
 * Whether the VMMs run sandboxed, judged once for the tree: --sandbox none
 * stays possible (a host without unprivileged user namespaces), said out
 * loud.
 */
import { warning, type Diagnostic } from './diagnostic.js';

/** What --sandbox asked for (pipeline/sandbox.ts Sandbox). */
export type SandboxKind = 'bwrap' | 'none';

export function sandboxDiagnostics(sandbox: SandboxKind, root: string): Diagnostic[] {
  switch (sandbox) {
    case 'bwrap':
      return [];
    case 'none':
      return [warning('vmm-unsandboxed', root, null,
        'the VMMs run unsandboxed (--sandbox none): a guest that escapes into its VMM sees the host\'s whole file system as the VMM\'s user, every process\'s /proc and every user\'s world-readable files',
        'drop --sandbox none, so that each VMM runs in a bwrap sandbox of its own (it needs unprivileged user namespaces: check --host says whether they work)')];
  }
}
