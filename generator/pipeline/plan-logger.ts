/** The VM's logger longrun: s6-log on the serial console, the pipeline's consumer end. */
import type { ValidVm } from './check.js';
import { hostPaths, type GeneratorOptions } from './options.js';
import { serviceName } from '../rules/vm-name.js';
import { dropArgv, ownerSpec, type RunAs } from './identities.js';
import { originOf, type Longrun } from './service-types.js';

export function planLogger(vm: ValidVm, runAs: RunAs, opts: GeneratorOptions): Longrun {
  return {
    type: 'longrun',
    name: serviceName.logger(vm.name),
    run: {
      template: 'log-run',
      data: {
        origin: originOf(vm),
        execlineb: opts.programs.execlineb,
        s6Log: opts.programs.s6Log,
        producer: serviceName.vm(vm.name),
        logDir: hostPaths(opts, vm.name).logDir,
        owner: ownerSpec(runAs),
        drop: dropArgv(runAs, opts.programs),
        maxFileBytes: opts.logMaxFileBytes,
        maxFiles: opts.logMaxFiles,
      },
    },
    data: new Map(),
    notificationFd: 3,
    timeoutUpMs: null,
    finish: null,
    maxDeathTally: null,
    timeoutKillMs: null,
    timeoutKillsGroup: false,
    timeoutDownMs: null,
    dependencies: [],
    producerFor: null,
    consumerFor: serviceName.vm(vm.name),
    pipelineName: serviceName.pipeline(vm.name),
  };
}
