/** How diagnostics and summaries look to a person, and to a script (--json). */
import { printable } from './bytes.js';
import type { CheckResult } from './check.js';
import type { Diagnostic } from './diagnostic.js';

export function formatDiagnostic(d: Diagnostic): string {
  return `${printable(d.path)}: ${d.severity}[${d.rule}]: ${d.message}\n  hint: ${d.hint}\n`;
}

export function formatSkipped(result: CheckResult): string {
  return result.skipped.map((s) => `vmsvc: skipped VM ${printable(s.name)}: ${s.reason}\n`).join('');
}

export function countLine(result: CheckResult): string {
  const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = result.diagnostics.length - errors;
  const vms = result.vms.length + result.skipped.length;
  return `${vms} VM${vms === 1 ? '' : 's'}: ${result.vms.length} valid, ${result.skipped.length} invalid or blocked; ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`;
}

export function checkJson(result: CheckResult): string {
  return `${JSON.stringify({
    ok: !result.diagnostics.some((d) => d.severity === 'error'),
    vms: result.vms.map((vm) => vm.name),
    skipped: result.skipped,
    diagnostics: result.diagnostics,
  }, null, 2)}\n`;
}
