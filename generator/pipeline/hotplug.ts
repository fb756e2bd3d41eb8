/**
 * Links hot-plugged into a running provider (vmm/capabilities.ts
 * NetHotplug): the requests that attach and detach one link's provider side,
 * for the link's oneshot (its own link, by value) and for the provider's
 * readiness check (every recorded link, by execline variables).
 */
import { VMM_FACTS, type HotplugNic, type NetHotplug, type VmmRequest } from '../vmm/index.js';
import type { RunAs } from './identities.js';
import { providerTapName } from './links.js';
import type { GeneratorOptions } from './options.js';
import { COREUTILS, vmmRequestData, type RequestLimits, type VmmRequestData } from './vmm-request.js';

/**
 * An attach or detach request that has said nothing for 5 s is stuck, and
 * each ends within 10 s: a link's oneshot waits on it, and the provider's
 * readiness check (s6-notifyoncheck gives a probe as long) tries again.
 */
const LIMITS = { silenceMs: 5000, totalMs: 10000 } as const;

/** The slots' tries together end within this: a VMM that stalls each try does not hold a link's up for minutes. */
const PLACE_BOUND_SECONDS = 20;

/**
 * The variables templates/common/hotplug-attach.hbs and the readiness
 * check's loop bind: the socket always comes from the environment, bound
 * last before each request, so that no substitution runs over the path
 * that holds the provider's name; the link's hex, MAC and slots come from
 * root's record; the slot tried, from the loop over them.
 */
const HOTPLUG_VARIABLES = { socket: '${vmsvc_sock}', hex: '${vmsvc_link}', mac: '${vmsvc_mac}', slots: '${vmsvc_slots}', slot: '${vmsvc_slot}' } as const;

/** The link in the re-attach loop: its hex, tap and MAC are the loop's variables. */
const RELINK_NIC: HotplugNic = { hex: HOTPLUG_VARIABLES.hex, tap: providerTapName(HOTPLUG_VARIABLES.hex), mac: HOTPLUG_VARIABLES.mac };

/** What templates/common/hotplug-attach.hbs renders (see NetHotplug for the order). */
export interface AttachData {
  readonly present: VmmRequestData;
  readonly add: readonly VmmRequestData[];
  /** The slots' words (or the variable holding them) and the request for the one in `${vmsvc_slot}`; null: the VMM places the NIC. */
  readonly place: { readonly slots: readonly string[]; readonly request: VmmRequestData; readonly timeout: string; readonly boundSeconds: number } | null;
}

export interface LinkRequests {
  /** To the socket in `${vmsvc_sock}`. */
  readonly attach: AttachData;
  /** To the provider's socket, by its path. */
  readonly detach: readonly VmmRequestData[];
  /** The slots the attach tries, in order, for root's record; none where the VMM places the NIC. */
  readonly slots: readonly string[];
}

type ApiHotplug = Extract<NetHotplug, { kind: 'api' }>;

const apiOf = (opts: GeneratorOptions): ApiHotplug | null => {
  const hotplug = VMM_FACTS[opts.vmm].netHotplug;
  return hotplug.kind === 'api' ? hotplug : null;
};

const limitsFor = (runAs: RunAs): RequestLimits => ({ ...LIMITS, runAs });

/** The attach of `nic`, trying `slots` (words, or the variable that holds them). */
function attachData(hotplug: ApiHotplug, nic: HotplugNic, slots: readonly string[], runAs: RunAs, opts: GeneratorOptions): AttachData {
  const viaEnv = (r: VmmRequest) => vmmRequestData(r, HOTPLUG_VARIABLES.socket, opts.programs, limitsFor(runAs));
  return {
    present: viaEnv(hotplug.present(nic)),
    add: hotplug.add(nic).map(viaEnv),
    place: hotplug.place === null ? null : { slots, request: viaEnv(hotplug.place.request(nic, HOTPLUG_VARIABLES.slot)), timeout: COREUTILS.timeout, boundSeconds: PLACE_BOUND_SECONDS },
  };
}

/**
 * The requests for one link's provider side (`nic`, link number `n`) to the
 * provider VMM at `controlSocket`, run as its uid; null when the VMM takes
 * links in its argv.
 */
export function linkRequests(nic: HotplugNic, n: number, controlSocket: string, runAs: RunAs, opts: GeneratorOptions): LinkRequests | null {
  const hotplug = apiOf(opts);
  if (hotplug === null) return null;
  const slots = hotplug.place === null ? [] : hotplug.place.slots(n);
  return {
    attach: attachData(hotplug, nic, slots, runAs, opts),
    detach: hotplug.detach(nic).map((r) => vmmRequestData(r, controlSocket, opts.programs, limitsFor(runAs))),
    slots,
  };
}

/** The readiness check's attach of each recorded link, by the loop's variables; null when the VMM takes links in its argv. */
export function relinkAttach(runAs: RunAs, opts: GeneratorOptions): AttachData | null {
  const hotplug = apiOf(opts);
  return hotplug === null ? null : attachData(hotplug, RELINK_NIC, [HOTPLUG_VARIABLES.slots], runAs, opts);
}
