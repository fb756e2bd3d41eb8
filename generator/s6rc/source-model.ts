/**
 * What the s6-rc source checker knows of the source dirs once read: each
 * service and the names it refers to, what each name resolves to, and the
 * report every step adds its problems and warnings to.
 */
import type { ServiceType } from './format.js';

export interface S6rcProblem {
  /** The service the problem belongs to, or null for a whole source dir. */
  service: string | null;
  /** The file or directory at fault. */
  file: string;
  reason: string;
}

/** s6-rc's own services' names start with these, so no source may use them. */
const RESERVED_PREFIXES = ['s6rc-', 's6-rc-'] as const;

/** A name read from a list file or a .d directory, with where it came from. */
export interface NameRef {
  name: string;
  file: string;
}

export interface Service {
  name: string;
  type: ServiceType;
  dir: string;
  /** Oneshot/longrun dependencies; bundle members. */
  names: NameRef[];
  /** Longruns only. */
  producerFor: NameRef | null;
  consumerFor: NameRef[];
  /** Only when honoured: on a last consumer. */
  pipelineName: NameRef | null;
}

/** What a name resolves to once every source dir is read. */
export interface Definition {
  type: ServiceType;
  dir: string;
  /** For a pipeline bundle: the last consumer that names it. */
  pipelineOf: Service | null;
  service: Service | null;
}

export class Report {
  readonly problems: S6rcProblem[] = [];
  readonly warnings: S6rcProblem[] = [];

  fatal(service: string | null, file: string, reason: string): void {
    this.problems.push({ service, file, reason });
  }

  warn(service: string | null, file: string, reason: string): void {
    this.warnings.push({ service, file, reason });
  }
}

export function reservedPrefix(name: string): boolean {
  return RESERVED_PREFIXES.some((p) => name.startsWith(p));
}

/** Names checkListedName (source-files.ts) rejects: they are reported once, not again as undefined. */
export function badName(name: string): boolean {
  return reservedPrefix(name) || name.includes('\n') || name.includes('/');
}
