/**
 * A VMM's declared request (vmm/capabilities.ts, VmmRequest) made concrete
 * for one VM: the data templates/common/vmm-request.hbs renders into one
 * execline command line. Every script that asks a VMM something (the
 * readiness check, a stop) goes through here and that one partial.
 */
import type { VmmClient, VmmRequest } from '../vmm/index.js';
import type { Programs } from './options.js';

export type VmmRequestData =
  /**
   * Spoken on the control socket: `argv` is s6-ipcclient ... s6-ioconnect -t
   * BOUND, `send` is given on its stdin, then EOF, which shuts the socket's
   * write side.
   */
  | { readonly via: 'socket'; readonly argv: readonly string[]; readonly send: string; readonly expect: string }
  /** The VMM's own client: `argv` whole; success is its exit status and, unless null, `expect`. */
  | { readonly via: 'client'; readonly argv: readonly string[]; readonly expect: string | null };

/**
 * `boundMs`: a socket request fails once its peer has said nothing for this
 * long (s6-ioconnect -t). A client request is bounded by its caller (e.g.
 * s6-notifyoncheck -t), since no s6 or execline tool can bound a child.
 */
export function vmmRequestData(request: VmmRequest, controlSocket: string, programs: Programs, boundMs: number): VmmRequestData {
  if (request.via === 'socket') {
    return { via: 'socket', argv: [programs.s6Ipcclient, '-q', controlSocket, programs.s6Ioconnect, '-t', String(boundMs)], send: request.send, expect: request.expect };
  }
  return { via: 'client', argv: [clientProgram(request.client, programs), ...request.args(controlSocket)], expect: request.expect };
}

function clientProgram(client: VmmClient, programs: Programs): string {
  switch (client) {
    case 'vmm':
      return programs.vmm;
    case 'ch-remote':
      return programs.chRemote;
  }
}
