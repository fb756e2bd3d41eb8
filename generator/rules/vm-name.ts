import { error, type Diagnostic } from './diagnostic.js';
import { CONTROL_CHAR, printable } from '../util/bytes.js';
import { LONGRUN_NAME_MAX_BYTES } from '../s6rc/format.js';
import { VMM_FACTS, type Vmm } from '../vmm/index.js';

/** A directory name that passed every naming rule; only `checkVmName` makes one (through `passed`). */
export type VmName = string & { readonly __brand: 'VmName' };

/** The one place a name becomes a VmName: when the naming rules found nothing wrong with it. */
function passed(name: string, problems: readonly Diagnostic[]): name is VmName {
  return problems.length === 0;
}

/** The logger's name is what the length limit is checked on, before any name is a VmName. */
const loggerOf = (name: string): string => `vm-${name}-log`;

/**
 * Service names derived from a VM name. All start with `vm-`, so no VM name can
 * reach s6-rc's reserved `s6rc-`/`s6-rc-` prefixes, and the suffixes below are
 * refused in VM names so that two VMs can never derive the same service name
 * (VM `a-log` would otherwise collide with VM `a`'s logger).
 */
export const serviceName = {
  vm: (name: VmName): string => `vm-${name}`,
  logger: (name: VmName): string => loggerOf(name),
  pipeline: (name: VmName): string => `vm-${name}-pipeline`,
};
const RESERVED_SUFFIXES = ['-log', '-pipeline'] as const;

/** sun_path is 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH = 107;

/**
 * Characters that cloud-hypervisor's option parser treats as syntax inside
 * `key=value,...` options (commas split, quotes and brackets group), and that
 * crosvm splits on too (QEMU's splits on commas). A path holding one cannot
 * be passed through exactly.
 */
const COMMON_UNSAFE = [',', '"', '[', ']'] as const;

/** What a VMM's key=value values cannot hold: the common set and its own (VmmCapabilities.valueSyntax). */
export interface VmmUnsafe {
  readonly pattern: RegExp;
  /** The characters, for messages: `, " [ ]`. */
  readonly shown: string;
}

function unsafeOf(chars: readonly string[]): VmmUnsafe {
  const escaped = chars.map((c) => c.replace(/[\\\]^-]/g, '\\$&')).join('');
  return { pattern: new RegExp(`[${escaped}]`), shown: chars.join(' ') };
}

/** What no VMM's option values can hold: for paths that reach every VMM alike. */
export const ANY_VMM_UNSAFE = unsafeOf(COMMON_UNSAFE);
export const VMM_UNSAFE = ANY_VMM_UNSAFE.pattern;

export function vmmUnsafe(vmm: Vmm): VmmUnsafe {
  return unsafeOf([...COMMON_UNSAFE, ...VMM_FACTS[vmm].valueSyntax]);
}

export interface NameLimits {
  /** The `s6-rc-init -p` prefix the tree will be loaded with. */
  readonly livePrefix: string;
  /** The longest socket path vmsvc derives from a VM name, as a function of it. */
  readonly longestSocketPath: (name: string) => string;
  /** What the VMM's option values cannot hold. */
  readonly unsafe: VmmUnsafe;
}

const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

export interface NameCheck {
  readonly problems: readonly Diagnostic[];
  /** The name as a VmName when `problems` is empty, else null. */
  readonly name: VmName | null;
}

export function checkVmName(name: string, path: string, limits: NameLimits): NameCheck {
  const shown = printable(name);
  if (CONTROL_CHAR.test(name)) {
    return {
      problems: [error('name-control-char', path, name, `VM name "${shown}" contains a control character`,
        's6-rc refuses newlines in service names and logs would be unreadable; rename the directory using printable characters')],
      name: null,
    };
  }
  const problems: Diagnostic[] = [];
  const suffix = RESERVED_SUFFIXES.find((s) => name.endsWith(s));
  if (suffix !== undefined) {
    problems.push(error('name-reserved-suffix', path, name, `VM name "${shown}" ends in "${suffix}"`,
      `vmsvc names its own services vm-<name>${suffix}; a VM called "${shown}" could collide with them. Rename the directory`));
  }
  if (limits.unsafe.pattern.test(name)) {
    problems.push(error('name-vmm-unsafe', path, name, `VM name "${shown}" contains one of ${limits.unsafe.shown}`,
      'the VMM parses its options as key=value lists split on commas, so paths built from this name would be cut apart; rename the directory'));
  }
  const longrun = `${limits.livePrefix}${loggerOf(name)}`;
  if (byteLength(longrun) > LONGRUN_NAME_MAX_BYTES) {
    problems.push(error('name-too-long', path, name,
      `service name "${printable(longrun)}" is ${byteLength(longrun)} bytes, over s6's limit of ${LONGRUN_NAME_MAX_BYTES}`,
      'shorten the directory name'));
  }
  const socket = limits.longestSocketPath(name);
  if (byteLength(socket) > MAX_SOCKET_PATH) {
    problems.push(error('name-too-long', path, name,
      `socket path "${printable(socket)}" is ${byteLength(socket)} bytes, over the Unix socket limit of ${MAX_SOCKET_PATH}`,
      'shorten the directory name or choose a shorter --runtime-dir'));
  }
  return { problems, name: passed(name, problems) ? name : null };
}
