/**
 * What a VMM declares about itself. Everything vmsvc does differently per VMM
 * derives from these: the default program, how to ask it whether the VM runs, the console
 * the user gets, and the refusals (rules/vmm-rules.ts), so a new VMM is one
 * module here plus its templates/<vmm>/vm-run.hbs, and inherits no other
 * VMM's refusals.
 */
import type { ImageSignature } from '../util/image-format.js';

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

/**
 * The program that carries a request of `via: 'client'`: the VMM's own binary
 * (crosvm's subcommands) or its separate client (cloud-hypervisor's ch-remote).
 */
export type VmmClient = 'vmm' | 'ch-remote';

/**
 * One request to a running VMM and how its reply is judged: the one
 * mechanism for everything vmsvc asks a VMM (is the VM running? press the
 * power button). templates/common/vmm-request.hbs renders it, made concrete
 * for one VM by pipeline/vmm-request.ts, as one execline command line that
 * exits 0 when the VMM answered as expected and non-zero otherwise (nothing
 * listening, an error, another answer, no answer within the bound).
 *
 * `expect` is an extended regular expression that some line of the reply
 * must contain; it holds no `$` (the reply is substituted into the command
 * line after it) and no newline.
 */
export type VmmRequest =
  /**
   * The VMM's own protocol, spoken on its control socket by s6-ipcclient and
   * s6-ioconnect: `send` is written, then the socket's write side is shut
   * down, and the reply is all the VMM writes until it closes, or until the
   * bound passes without a byte (which fails the request).
   */
  | { readonly via: 'socket'; readonly send: string; readonly expect: string }
  /**
   * The VMM's own client program, with these arguments: the request succeeds
   * when it exits 0 and, if `expect` is not null, its output matches.
   */
  | { readonly via: 'client'; readonly client: VmmClient; readonly args: (controlSocket: string) => readonly string[]; readonly expect: string | null };

/**
 * How a guest's own readiness (it writes "READY=1\n" to the virtio-serial
 * port org.vmsvc.ready) reaches the host, as the VMM can carry it.
 */
export type GuestReadyChannel =
  /**
   * The VMM keeps what the guest wrote, bounded, and `read` takes it back
   * (consuming it) on the control socket; `expect` looks for READY=1.
   */
  | { readonly kind: 'request'; readonly read: VmmRequest }
  /** None: asking for guest readiness is vmm-unsupported, with this reason and hint. */
  | { readonly kind: 'none'; readonly why: string; readonly hint: string };

/**
 * Whether the guest may be given writable disks. A VMM that probes each
 * image's format when it opens it, and cannot be told the image is raw,
 * would open a QCOW2 header the guest wrote as QCOW2 on the next start, and
 * with it a backing file on the host that the header names.
 */
export type WritableDisks =
  /** Guest-written data is never opened as another format: writable disks are fine. */
  | { readonly kind: 'raw' }
  /** Writable disks are vmm-unsupported (or setting-vmm-unsupported), with this reason and hint. */
  | { readonly kind: 'none'; readonly why: string; readonly hint: string };

/**
 * Whether the VMM can be told each image is raw. One that probes formats
 * (and cannot be told) opens an image starting with one of `signatures` as
 * that format, and some formats name other files, which it then opens on the
 * host: check reads each image's first bytes for such a VMM and refuses a
 * match (img-not-raw). A forced-raw VMM's images are not read at all.
 */
export type ImageFormat =
  | { readonly kind: 'forced-raw' }
  | { readonly kind: 'probed'; readonly signatures: readonly ImageSignature[] };

/**
 * What the VMM looks for in a kernel file before the ELF header vmsvc
 * checked, each as what it then does (the reason check gives), or null when
 * it does not look. A vmlinux carrying such a header would be booted under
 * another protocol, whose loader reads the other arguments under another
 * grammar: QEMU reads a multiboot kernel's -initrd as a list of modules,
 * each path cut at its first space. check refuses it (vmlinux-multiboot,
 * vmlinux-setup-header).
 */
export interface KernelProbes {
  /** A multiboot (v1) header in the first 8192 bytes (util/kernel-format.ts). */
  readonly multiboot: string | null;
  /** "HdrS" at 0x202, the Linux boot protocol's setup header. */
  readonly linuxSetupHeader: string | null;
  /**
   * The VMM looks for those headers in a buffer of this many bytes whatever
   * the file's length, and what lies past the file's end there is memory it
   * never cleared: a shorter file would be judged on bytes that are not in
   * it (vmlinux-short). null: it looks only at the file's own bytes.
   */
  readonly decidesOnBytes: number | null;
}

/**
 * How the VMM takes a file that root opened for it before dropping to the
 * VMM's uid (pipeline/handover.ts), so that the uid needs no right on the
 * file itself and nothing on the user partition is handed to it by path:
 * - `fdset`: QEMU's `-add-fd fd=N,set=M` and the path `/dev/fdset/M`; a
 *   writable file needs a read-only and a read-write descriptor in its set;
 * - `proc-fd`: the path `/proc/self/fd/N`, which the VMM duplicates instead
 *   of opening again;
 * - `path`: the file's own path, opened by the VMM as its uid, to which
 *   root grants an ACL entry on the file through a descriptor.
 * No VMM reads its kernel through an fdset, so kernels are proc-fd or path.
 */
export type Handover = 'fdset' | 'proc-fd' | 'path';

/**
 * One link's provider side as the VMM's API takes it. `hex` is the link's
 * number in four hex digits, from which the VMM's own ids for it derive;
 * `tap` is the persistent tap root made for it, `mac` its provider MAC. In
 * the readiness check's re-attach loop these are execline variables, filled
 * in at run time from root's record of the link: they only ever hold what
 * vmsvc derives from a link number.
 */
export interface HotplugNic {
  readonly hex: string;
  readonly tap: string;
  readonly mac: string;
}

/**
 * How a provider's links reach its running VMM.
 * - `api`: hot-plugged. The VMM starts without them; each link's oneshot
 *   attaches its tap through the VMM's API once the provider runs, and
 *   detaches it when the link goes; the provider's readiness check attaches
 *   every link recorded for it after each start. So clients come and go
 *   without the provider restarting. An attach asks `present` first (a NIC
 *   that is there is left alone, so attaching twice is no error and costs
 *   one request), then runs `add` (each request may fail), then, with
 *   `place`, tries the link's slots in turn until one takes the NIC, and
 *   asks `present` again, which must succeed. Each request a VMM answers
 *   holds its main loop, and the guest's with it under emulation: an attach
 *   sends few. `detach`'s requests may all fail (the provider is down, the
 *   guest keeps the device): the host side of the link goes anyway.
 *   `bootArgs`: what the run script must give the VMM at start for
 *   hot-plug to work (QEMU's PCIe root ports), one group of words a line.
 * - `argv`: the VMM cannot: the provider's links are in its argv, so a
 *   change in its clients restarts it (`why` says what it lacks).
 */
export type NetHotplug =
  | {
    readonly kind: 'api';
    readonly present: (nic: HotplugNic) => VmmRequest;
    readonly add: (nic: HotplugNic) => readonly VmmRequest[];
    readonly place: HotplugPlace | null;
    readonly detach: (nic: HotplugNic) => readonly VmmRequest[];
    readonly bootArgs: ReadonlyArray<readonly string[]>;
  }
  | { readonly kind: 'argv'; readonly why: string };

/**
 * Where a NIC goes when the VMM must be told (QEMU's root ports): the slots
 * to try for a link, in order, and the request that puts it in one. A
 * link's order starts at a slot of its own, so that the first try usually
 * takes it; root records the order with the link, for the re-attach loop.
 */
export interface HotplugPlace {
  readonly slots: (n: number) => readonly string[];
  readonly request: (nic: HotplugNic, slot: string) => VmmRequest;
}

export interface VmmCapabilities {
  /** The --vmm value and the templates/ directory name. */
  readonly id: string;
  /** Program name looked up in PATH when --vmm-bin is not given. */
  readonly program: string;
  /** The version whose CLI the templates follow (doc/vmms.md, --help). */
  readonly version: string;
  /** The VMM's API, control or QMP socket, in the VM's runtime dir: requests go there. */
  readonly controlSocket: string;
  /**
   * Asks whether the VM is running (created, booted, not paused): the VM
   * service is ready only once this succeeds.
   */
  readonly running: VmmRequest;
  /**
   * Presses the VM's ACPI power button: how a stop asks the guest to power
   * off before the bound (stop timeout) passes and the VMM is killed.
   */
  readonly powerButton: VmmRequest;
  /**
   * Tells the VMM to exit now. The VM's finish script sends it after every
   * death of the service's process: a VMM whose parent (trap) was SIGKILLed
   * (s6-svc -k, s6-supervise's timeout-kill) would otherwise outlive its
   * service; after a normal exit nothing answers and it fails at once.
   */
  readonly quit: VmmRequest;
  readonly guestReady: GuestReadyChannel;
  /** `any`: takes --memory with K, M or G as given; `MiB`: only whole MiB. */
  readonly memoryUnit: 'any' | 'MiB';
  readonly console: ConsoleKind;
  readonly writableDisks: WritableDisks;
  readonly imageFormat: ImageFormat;
  readonly kernelProbes: KernelProbes;
  /**
   * Characters its key=value option parser treats as syntax inside a value,
   * besides the `,` `"` `[` `]` refused for every VMM (rules/vm-name.ts
   * VmmUnsafe): refused in whatever reaches such a value (VM names, image
   * names and link targets, the data dir's path).
   */
  readonly valueSyntax: string;
  /**
   * An empty directory, by this name in the runtime root (--runtime-dir),
   * that the VMM's sandbox pivots into; the run script creates it,
   * root-owned, before the VMM starts. Not in the VM's own runtime dir: the
   * VMM's user owns that one, and could put a directory of its own there.
   * A name starting with a dot, so no VM's runtime dir can have it (such
   * names are never VMs). null: the VMM needs none.
   */
  readonly sandboxRoot: string | null;
  /**
   * The VMM makes user namespaces of its own (crosvm's per-device jails), so
   * the bwrap sandbox around it must leave creating them allowed (no
   * --disable-userns).
   */
  readonly makesUserNamespaces: boolean;
  /** The accelerators it can run a guest with. */
  readonly accels: readonly Accel[];
  /**
   * What the VMM itself takes besides guest memory, in MiB, by how it runs
   * guests (kvm-or-tcg: the larger): added to the VM's memory for its
   * cgroup's memory.max (--vmm-memory-overhead auto). Each module says where
   * its figure comes from.
   */
  readonly memoryOverheadMiB: { readonly kvm: number; readonly tcg: number };
  /** How a provider's links are attached to it (see NetHotplug). */
  readonly netHotplug: NetHotplug;
  /** How it takes the disk images, and the kernel and initramfs (see Handover). */
  readonly handover: { readonly disks: Handover; readonly kernel: Exclude<Handover, 'fdset'> };
}
