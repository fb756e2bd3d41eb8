/**
 * The oneshot that makes a link's bridge and taps (net-up) and removes them
 * (net-down); where the provider's VMM hot-plugs links, it also attaches
 * the provider's tap to the running provider, and depends on it.
 */
import { linkHex, type Link } from './links.js';
import { hostPaths, type GeneratorOptions } from './options.js';
import { tapUser, type RunAs } from './identities.js';
import { linkRequests } from './hotplug.js';
import type { LinkHotplugData, NetLinkData, Oneshot } from './service-types.js';
import { serviceName } from '../rules/vm-name.js';

/**
 * Link oneshots only run ip(8), but each ip waits for the kernel's rtnl lock,
 * which every link of one s6-rc change contends for (s6-rc runs them 40 at a
 * time, its oneshot runner's limit): bringing up 1000 links on two busy CI
 * cores, one waited more than 10 s. Two minutes is stuck.
 */
const LINK_TIMEOUT_MS = 120000;

export function planLink(link: Link, dataDir: string, client: RunAs, provider: RunAs, opts: GeneratorOptions): Oneshot {
  const hex = linkHex(link.n);
  const hotplug = linkHotplug(link, hex, provider, opts);
  const data: NetLinkData = {
    origin: { subject: `link ${link.client} -> ${link.provider}`, source: `${dataDir}/${link.client}/providers/net/${link.provider}` },
    ip: opts.programs.ip,
    clientTapUser: tapUser(client),
    providerTapUser: tapUser(provider),
    link,
    hex,
    hotplug,
  };
  return {
    type: 'oneshot',
    name: link.service,
    up: { template: 'net-up', data },
    down: { template: 'net-down', data },
    timeoutUpMs: LINK_TIMEOUT_MS,
    timeoutDownMs: LINK_TIMEOUT_MS,
    // Attached to the running provider: it must be up first, and a stop of it takes the link down before.
    dependencies: hotplug === null ? [] : [serviceName.vm(link.provider)],
  };
}

function linkHotplug(link: Link, hex: string, provider: RunAs, opts: GeneratorOptions): LinkHotplugData | null {
  const paths = hostPaths(opts, link.provider);
  const requests = linkRequests({ hex, tap: link.providerTap, mac: link.providerMac }, link.n, paths.controlSocket, provider, opts);
  if (requests === null) return null;
  return { records: paths.linkRecords, record: `${paths.linkRecords}/${hex}`, temp: `${paths.linkRecords}/.${hex}`, controlSocket: paths.controlSocket, ...requests };
}
