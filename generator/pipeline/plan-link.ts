/** The oneshot that makes a link's bridge and taps (net-up) and removes them (net-down). */
import type { Link } from './links.js';
import type { GeneratorOptions } from './options.js';
import { tapUser, type RunAs } from './identities.js';
import type { NetLinkData, Oneshot } from './service-types.js';

/**
 * Link oneshots only run ip(8), but each ip waits for the kernel's rtnl lock,
 * which every link of one s6-rc change contends for (s6-rc runs them 40 at a
 * time, its oneshot runner's limit): bringing up 1000 links on two busy CI
 * cores, one waited more than 10 s. Two minutes is stuck.
 */
const LINK_TIMEOUT_MS = 120000;

export function planLink(link: Link, dataDir: string, client: RunAs, provider: RunAs, opts: GeneratorOptions): Oneshot {
  const data: NetLinkData = {
    origin: { subject: `link ${link.client} -> ${link.provider}`, source: `${dataDir}/${link.client}/providers/net/${link.provider}` },
    ip: opts.programs.ip,
    clientTapUser: tapUser(client),
    providerTapUser: tapUser(provider),
    link,
    hex: link.n.toString(16).padStart(4, '0'),
  };
  return {
    type: 'oneshot',
    name: link.service,
    up: { template: 'net-up', data },
    down: { template: 'net-down', data },
    timeoutUpMs: LINK_TIMEOUT_MS,
    timeoutDownMs: LINK_TIMEOUT_MS,
  };
}
