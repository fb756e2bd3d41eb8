/**
 * The names across all source dirs, compiled as one namespace: each defined
 * once (pipeline bundles included), every reference defined, and each
 * producer and consumer declared by the other side too.
 */
import * as path from 'node:path';
import { badName, type Definition, type NameRef, type Report, type Service } from './source-model.js';

export function defineNames(services: Service[], report: Report): Map<string, Definition> {
  const defs = new Map<string, Definition>();
  for (const service of services) {
    const prior = defs.get(service.name);
    if (prior) {
      report.fatal(service.name, service.dir, `duplicate service definition: ${service.name} defined in ${path.dirname(service.dir)} is already defined (in ${path.dirname(prior.dir)}) and has type ${prior.type}`);
      continue;
    }
    defs.set(service.name, { type: service.type, dir: service.dir, pipelineOf: null, service });
  }
  // Pipeline bundles are added after every source dir is read, like
  // add_pipeline_bundles does; they clash with services and with each other.
  for (const service of services) {
    const ref = service.pipelineName;
    if (!ref || badName(ref.name)) continue;
    const prior = defs.get(ref.name);
    if (prior) {
      const what = prior.pipelineOf ? `the pipeline-name of ${prior.pipelineOf.name}` : `a ${prior.type} in ${path.dirname(prior.dir)}`;
      report.fatal(service.name, ref.file, `duplicate service definition: pipeline-name ${ref.name} of ${service.name} is already defined as ${what}`);
      continue;
    }
    defs.set(ref.name, { type: 'bundle', dir: service.dir, pipelineOf: service, service: null });
  }
  return defs;
}

/** Whether a reference should be resolved (bad or unusable names were reported already). */
function resolvable(ref: NameRef, unusable: Set<string>): boolean {
  return !badName(ref.name) && !unusable.has(ref.name);
}

export function checkReferences(services: Service[], defs: Map<string, Definition>, unusable: Set<string>, report: Report): void {
  for (const service of services) {
    for (const ref of service.names) {
      if (!resolvable(ref, unusable) || defs.has(ref.name)) continue;
      const reason = service.type === 'bundle'
        ? `during resolution of bundle ${service.name}: undefined service name ${ref.name}`
        : `during dependency resolution for service ${service.name}: undefined service name ${ref.name}`;
      report.fatal(service.name, ref.file, reason);
    }
  }
}

export function checkPipelines(services: Service[], defs: Map<string, Definition>, unusable: Set<string>, report: Report): void {
  for (const service of services) {
    if (service.type !== 'longrun') continue;
    const partners = [
      ...(service.producerFor ? [{ ref: service.producerFor, role: 'producer' as const }] : []),
      ...service.consumerFor.map((ref) => ({ ref, role: 'consumer' as const })),
    ];
    for (const { ref, role } of partners) {
      if (resolvable(ref, unusable)) checkPartner(service, ref, role, defs, report);
    }
  }
}

/** `service` says it is the `role` (producer/consumer) of `ref`: check the other side. */
function checkPartner(service: Service, ref: NameRef, role: 'producer' | 'consumer', defs: Map<string, Definition>, report: Report): void {
  const claim = role === 'producer'
    ? `longrun service ${service.name} declares being a producer for a service named ${ref.name}`
    : `longrun service ${service.name} declares being the consumer for a service named ${ref.name}`;
  const def = defs.get(ref.name);
  if (!def) {
    report.fatal(service.name, ref.file, `${claim}, which is not defined (undefined service name ${ref.name})`);
    return;
  }
  if (def.type !== 'longrun' || !def.service) {
    report.fatal(service.name, ref.file, `${claim} of type ${def.type}`);
    return;
  }
  const other = def.service;
  const declaredBack = role === 'producer'
    ? other.consumerFor.some((r) => r.name === service.name)
    : other.producerFor?.name === service.name;
  if (!declaredBack) report.fatal(service.name, ref.file, `${claim} that does not declare it back`);
}
