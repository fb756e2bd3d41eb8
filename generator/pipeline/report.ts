/** How diagnostics and summaries look to a person, and to a script (--json). */
import { printable, tableNames, terminalJson } from '../util/bytes.js';
import type { CheckResult } from './check.js';
import type { Diagnostic } from '../rules/diagnostic.js';
import type { Link } from './links.js';
import { alignedTable } from '../util/table.js';
import { plural } from '../util/plural.js';

export function formatDiagnostic(d: Diagnostic): string {
  return `${printable(d.path)}: ${d.severity}[${d.rule}]: ${d.message}\n  hint: ${d.hint}\n`;
}

/**
 * Diagnostics printed per VM (and for the data dir itself) before the rest is
 * summed up in one line: a VM with 100,000 broken images would otherwise bury
 * the terminal or the boot log, and the first hundred already say what is
 * wrong. --json always carries every one.
 */
export const SHOWN_PER_VM = 100;

/** The diagnostics as formatDiagnostic lines, at most SHOWN_PER_VM per VM, then a count of the rest per VM. */
export function* formatDiagnostics(diagnostics: readonly Diagnostic[]): Generator<string> {
  const seen = new Map<string | null, number>();
  for (const d of diagnostics) {
    const n = (seen.get(d.vm) ?? 0) + 1;
    seen.set(d.vm, n);
    if (n <= SHOWN_PER_VM) yield formatDiagnostic(d);
  }
  for (const [vm, n] of seen) {
    if (n <= SHOWN_PER_VM) continue;
    const whose = vm === null ? 'the data directory' : `VM ${printable(vm)}`;
    yield `vmsvc: ${plural(n - SHOWN_PER_VM, 'more problem')} of ${whose} not shown (vmsvc check --json lists all ${n})\n`;
  }
}

/** The host preflight's verdict in one line (check --host). */
export function hostLine(host: readonly Diagnostic[]): string {
  const errors = host.filter((d) => d.severity === 'error').length;
  const warnings = host.length - errors;
  return `host: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
}

export function formatSkipped(result: CheckResult): string {
  return result.skipped.map((s) => `vmsvc: skipped VM ${printable(s.name)}: ${s.reason}\n`).join('');
}

/**
 * Why a held VM's new definition is refused, to follow "its new one": each
 * rule it broke with its first file, or the skipped provider it needs.
 */
export function whyRefused(h: { readonly reason: string; readonly needs: string | null; readonly problems: ReadonlyArray<{ readonly rule: string; readonly path: string }> }): string {
  if (h.problems.length > 0) return `is invalid (${h.problems.map((x) => `${x.rule}: ${x.path}`).join('; ')})`;
  return h.needs === null ? `is ${h.reason}` : `needs provider ${h.needs}, which is skipped`;
}

export function countLine(result: CheckResult): string {
  const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = result.diagnostics.length - errors;
  const vms = result.vms.length + result.skipped.length;
  return `${plural(vms, 'VM')}: ${result.vms.length} valid, ${result.skipped.length} invalid or blocked; ${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
}

/** `host`: the host rules' diagnostics (check --host), or null when the host was not checked. */
export function checkJson(result: CheckResult, links: readonly Link[], host: readonly Diagnostic[] | null): string {
  return `${terminalJson({
    ok: !result.diagnostics.some((d) => d.severity === 'error') && !(host ?? []).some((d) => d.severity === 'error'),
    vms: result.vms.map((vm) => vm.name),
    // As before the skipped VMs carried `needs`: the reason says it.
    skipped: result.skipped.map((s) => ({ name: s.name, reason: s.reason })),
    diagnostics: result.diagnostics,
    links,
    ...(host === null ? {} : { host }),
  }, 2)}\n`;
}

/** The links as an aligned table, one row per link, for --show-links. */
export function linksTable(links: readonly Link[]): string {
  const header = ['n', 'client', 'provider', 'client MAC', 'client IP', 'provider MAC', 'bridge', 'client tap', 'provider tap', 'service'];
  const name = tableNames(links.flatMap((l) => [l.client, l.provider]));
  const rows = links.map((l) => [String(l.n), name(l.client), name(l.provider), l.clientMac, l.clientIp, l.providerMac, l.bridge, l.clientTap, l.providerTap, l.service]);
  return rows.length === 0 ? 'no network links\n' : alignedTable(header, rows);
}
