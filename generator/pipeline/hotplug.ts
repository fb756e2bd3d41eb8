/**
 * Links hot-plugged into a running provider (vmm/capabilities.ts
 * NetHotplug): the requests that attach and detach one link's provider side,
 * for the link's oneshot (its own link, by value) and for the provider's
 * readiness check (every recorded link, by execline variables).
 */
import { VMM_FACTS, type HotplugNic } from '../vmm/index.js';
import type { RunAs } from './identities.js';
import { providerTapName } from './links.js';
import type { GeneratorOptions } from './options.js';
import { vmmRequestData, type RequestLimits, type VmmRequestData } from './vmm-request.js';

/**
 * An attach or detach that has said nothing for 5 s is stuck, and each ends
 * within 10 s: a link's oneshot waits on it, and the provider's readiness
 * check (s6-notifyoncheck gives a probe as long) tries again.
 */
const LIMITS = { silenceMs: 5000, totalMs: 10000 } as const;

export interface HotplugRequests {
  readonly attach: readonly VmmRequestData[];
  readonly detach: readonly VmmRequestData[];
}

/** The requests for `nic` to the provider VMM at `controlSocket`, run as its uid; null when the VMM takes links in its argv. */
export function hotplugRequests(nic: HotplugNic, controlSocket: string, runAs: RunAs, opts: GeneratorOptions): HotplugRequests | null {
  const hotplug = VMM_FACTS[opts.vmm].netHotplug;
  if (hotplug.kind !== 'api') return null;
  const limits: RequestLimits = { ...LIMITS, runAs };
  const data = (r: Parameters<typeof vmmRequestData>[0]) => vmmRequestData(r, controlSocket, opts.programs, limits);
  return { attach: hotplug.attach(nic).map(data), detach: hotplug.detach(nic).map(data) };
}

/**
 * The variables of the readiness check's re-attach loop
 * (templates/common/ready-check.hbs): the record's name is the link's hex,
 * its content `mac=...`, and the socket comes last, from the environment,
 * so that no substitution runs over the path that holds the VM's name.
 */
export const RELINK_VARIABLES = { hex: '${vmsvc_link}', mac: '${vmsvc_mac}', socket: '${vmsvc_sock}' } as const;

export const RELINK_NIC: HotplugNic = { hex: RELINK_VARIABLES.hex, tap: providerTapName(RELINK_VARIABLES.hex), mac: RELINK_VARIABLES.mac };
