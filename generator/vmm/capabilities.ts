/**
 * What a VMM declares about itself. Everything vmsvc does differently per VMM
 * derives from these: the default program, the readiness socket, the console
 * the user gets, and the refusals (rules/vmm-rules.ts), so a new VMM is one
 * module here plus its templates/<vmm>/vm-run.hbs, and inherits no other
 * VMM's refusals.
 */

/**
 * How the guest's CPU runs: `kvm` only, `tcg` (software emulation) only, or
 * `kvm-or-tcg`: KVM when it opens, else emulation. A KVM that opens but cannot
 * run the guest (a paravirtual one, as under some clouds) still wins there,
 * so the fallback is a choice for hosts known to lack KVM, not a default.
 */
export const ACCELS = ['kvm', 'tcg', 'kvm-or-tcg'] as const;
export type Accel = (typeof ACCELS)[number];

/** The user's virtio-console, as the VMM offers it. */
export type ConsoleKind =
  /** A Unix socket in the VM's runtime dir, which `vmsvc console` attaches to. */
  | { readonly kind: 'socket'; readonly socket: string }
  /**
   * A pty only the running VMM knows the path of: `flag`'s value in the run
   * script starts with `pty`, and `find` says how to ask the VMM for it.
   */
  | { readonly kind: 'pty'; readonly flag: string; readonly find: (controlSocket: string) => string }
  /** None it can give: asking for one is vmm-unsupported, with this reason and hint. */
  | { readonly kind: 'none'; readonly why: string; readonly hint: string };

export interface VmmCapabilities {
  /** The --vmm value and the templates/ directory name. */
  readonly id: string;
  /** Program name looked up in PATH when --vmm-bin is not given. */
  readonly program: string;
  /** The version whose CLI the templates follow (README, --help). */
  readonly version: string;
  /** The socket whose existence means "ready": API, control or QMP socket. */
  readonly controlSocket: string;
  /** `any`: takes --memory with K, M or G as given; `MiB`: only whole MiB. */
  readonly memoryUnit: 'any' | 'MiB';
  readonly console: ConsoleKind;
  /** The accelerators it can run a guest with. */
  readonly accels: readonly Accel[];
}
