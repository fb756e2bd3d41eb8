/**
 * A VMM's declared request (vmm/capabilities.ts, VmmRequest) made concrete
 * for one VM: the data templates/common/vmm-request.hbs renders into one
 * execline command line. Every script that asks a VMM something (the
 * readiness check, a stop, the finish script's quit) goes through here and
 * that one partial.
 *
 * These scripts run as root, and what answers is the VMM, which a guest that
 * escapes into it controls, in a directory its user owns. So every request
 * runs as the VMM's user (a link swapped in for the socket leads nowhere that
 * user could not go), ends within a time limit whatever the VMM sends, and
 * its reply is read up to a size limit.
 */
import type { VmmClient, VmmRequest } from '../vmm/index.js';
import type { Programs } from './options.js';
import { dropArgv, type RunAs } from './identities.js';

export type VmmRequestData =
  /**
   * Spoken on the control socket: `argv` is [limit...] s6-ipcclient ...
   * s6-ioconnect -t SILENCE, `send` is given on its stdin, then EOF, which
   * shuts the socket's write side.
   */
  | { readonly via: 'socket'; readonly argv: readonly string[]; readonly send: string; readonly expect: string; readonly replyBytes: number }
  /** The VMM's own client: `argv` whole; success is its exit status and, unless null, `expect`. */
  | { readonly via: 'client'; readonly argv: readonly string[]; readonly expect: string | null; readonly replyBytes: number };

/** How a request is bounded, and whom it runs as. */
export interface RequestLimits {
  /** A socket request fails once its peer has said nothing for this long (s6-ioconnect -t). */
  readonly silenceMs: number;
  /** Every request is SIGKILLed after this long (coreutils timeout), however the VMM trickles its reply. */
  readonly totalMs: number;
  /** Who the request runs as: the VMM's own identity. */
  readonly runAs: RunAs;
}

/**
 * What a reply may hold: QMP's replies and ch-remote's vm.info are a few KiB;
 * execline passes the reply on as one argument, which Linux bounds at 128
 * KiB (MAX_ARG_STRLEN) anyway. A VMM that sends more is cut off (head
 * exits, the client dies of SIGPIPE) and the request fails.
 */
export const REPLY_BYTES = 65536;

/** coreutils: `timeout` bounds a child, which no s6 or execline program does; `head` bounds a reply. */
export const COREUTILS = { timeout: 'timeout', head: 'head' } as const;

export function vmmRequestData(request: VmmRequest, controlSocket: string, programs: Programs, limits: RequestLimits): VmmRequestData {
  const bounded = [
    COREUTILS.timeout, '-s', 'KILL', `${limits.totalMs / 1000}`,
    ...dropArgv(limits.runAs, programs),
  ];
  if (request.via === 'socket') {
    const argv = [...bounded, programs.s6Ipcclient, '-q', controlSocket, programs.s6Ioconnect, '-t', String(limits.silenceMs)];
    return { via: 'socket', argv, send: request.send, expect: request.expect, replyBytes: REPLY_BYTES };
  }
  const argv = [...bounded, clientProgram(request.client, programs), ...request.args(controlSocket)];
  return { via: 'client', argv, expect: request.expect, replyBytes: REPLY_BYTES };
}

function clientProgram(client: VmmClient, programs: Programs): string {
  switch (client) {
    case 'vmm':
      return programs.vmm;
    case 'ch-remote':
      return programs.chRemote;
  }
}
