/**
 * A VM's longrun: the run script that starts its VMM, the finish script that
 * ends a crash loop, the readiness check and the power button, and the
 * timeouts that bound a start and a stop.
 */
import * as path from 'node:path';
import { sortedBytewise } from '../util/bytes.js';
import type { ValidVm } from './check.js';
import { hostPaths, type GeneratorOptions } from './options.js';
import { serviceName } from '../rules/vm-name.js';
import { aclQualifier, dropArgv, ownerSpec, type VmIdentities } from './identities.js';
import { planCgroup } from './cgroup.js';
import { memoryMiB, VMM_FACTS } from '../vmm/index.js';
import { vmmRequestData, type RequestLimits } from './vmm-request.js';
import { relinkAttach } from './hotplug.js';
import { planHandover } from './handover.js';
import { sandboxData } from './sandbox.js';
import { originOf, VMM_LOG_SUBDIR, type Longrun, type Script } from './service-types.js';
import type { VmLinks } from './vm-links.js';

/**
 * A VMM says little (start-up errors, a crash): the last 4 x 128 KiB are
 * plenty, and a flood costs the disk no more than that per VM.
 */
const VMM_LOG_FILES = 3;
const VMM_LOG_FILE_BYTES = 131072;

/** s6-supervise's own max-death-tally when the file is absent. */
const S6_DEFAULT_DEATH_TALLY = 100;

/**
 * Every death counts towards the crash limit: any exit code (0 too: a guest
 * that powers off at once, over and over, loops like one that crashes) and
 * every signal that ends a process by default (SIGSYS: a seccomp kill).
 * A stop is not a crash: the finish script clears the tally after a death
 * the supervisor did not want up (s6-svc -d, s6-rc -d, and the stop half of
 * a restart by s6-rc-update), so restarts never add up to a crash loop.
 */
const CRASH_EVENTS = [
  '0-255', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGKILL',
  'SIGUSR1', 'SIGSEGV', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGXCPU', 'SIGXFSZ', 'SIGSYS',
].join(',');

/**
 * A VMM that has said nothing on its control socket for this long is stuck:
 * the request fails, and s6-notifyoncheck asks again.
 */
const REQUEST_SILENCE_MS = 5000;

/**
 * One readiness probe that runs longer is given up on (s6-notifyoncheck -t)
 * and the next one starts; every request is killed at the same bound
 * (vmm-request.ts), so a probe given up on is gone too, whether the VMM
 * trickles a reply or its own client (ch-remote, crosvm) waits on it.
 */
const PROBE_TIMEOUT_MS = 10000;

/**
 * The power button is pressed again this often during a stop: a guest can
 * miss a press that comes while it boots, before its ACPI handler runs.
 */
const PRESS_EVERY_MS = 5000;
/**
 * s6-supervise's timeout-kill comes this long after the stop timeout: the
 * last resort, if trap itself does not end or its kill did not work (it
 * SIGKILLs the process group with flag-timeout-killpg, trap alone on s6 <
 * 2.13). s6-rc's timeout-down is as long again after that.
 */
const KILL_GRACE_MS = 5000;

/**
 * The finish script's quit request (to a VMM its killed trap left behind)
 * ends within this long, and is given up after this much silence: s6-supervise
 * SIGKILLs a finish script still running after 5 s (its default
 * timeout-finish, which vmsvc does not change, so that s6-rc's timeout-down
 * still covers the finish), and the request goes where the VMM's uid points
 * its control socket, so one that holds it must not keep the script from
 * s6-permafailon, which ends a crash loop.
 */
const FINISH_QUIT_MS = 3000;
const FINISH_QUIT_SILENCE_MS = 2000;

/** The power button's script, in the VM service's data/. */
const POWER_BUTTON = 'power-button';

/** Waits of at most PRESS_EVERY_MS that add up to `totalMs`. */
function pressWaits(totalMs: number): number[] {
  const waits: number[] = [];
  for (let left = totalMs; left > 0; left -= PRESS_EVERY_MS) waits.push(Math.min(left, PRESS_EVERY_MS));
  return waits;
}

/** The VMM's longrun, which produces into its logger's. */
export function planVm(vm: ValidVm, dataDir: string, links: VmLinks, ids: VmIdentities, opts: GeneratorOptions): Longrun {
  const paths = hostPaths(opts, vm.name);
  const origin = originOf(vm);
  const caps = VMM_FACTS[opts.vmm];
  // check refuses guest readiness with a VMM that has no channel for it.
  const guestReadyRead = vm.settings.guestReady && caps.guestReady.kind === 'request' ? caps.guestReady.read : null;
  const limits: RequestLimits = { silenceMs: REQUEST_SILENCE_MS, totalMs: PROBE_TIMEOUT_MS, runAs: ids.vmm };
  const handover = planHandover({
    handover: caps.handover, dataDir, kernel: vm.kernel, initramfs: vm.initramfs, disks: vm.disks, writable: vm.settings.writableDisks, programs: opts.programs,
    grantee: aclQualifier(ids.vmm),
  });
  const bootFiles = [handover.kernel, ...(handover.initramfs === null ? [] : [handover.initramfs])];
  const cgroup = planCgroup(serviceName.vm(vm.name), vm.settings, opts);
  const accels = opts.accel === 'kvm-or-tcg' ? (['kvm', 'tcg'] as const) : [opts.accel];
  // Hot-plugged: the links it provides are attached to it once it runs (plan-link.ts), so its clients never change this script.
  const hotplug = caps.netHotplug.kind === 'api' ? caps.netHotplug : null;
  const relink = relinkAttach(ids.vmm, opts);
  const provided = hotplug === null ? links.asProvider : [];
  const nets = [
    ...links.asClient.map((l) => ({ tap: l.clientTap, mac: l.clientMac })),
    ...provided.map((l) => ({ tap: l.providerTap, mac: l.providerMac })),
  ];
  const readiness: Script = {
    template: 'ready-check',
    data: {
      origin,
      execlineb: opts.programs.execlineb,
      vmm: opts.vmm,
      running: vmmRequestData(caps.running, paths.controlSocket, opts.programs, limits),
      guestReady: guestReadyRead === null ? null : vmmRequestData(guestReadyRead, paths.controlSocket, opts.programs, limits),
      relink: relink === null ? null : { controlSocket: paths.controlSocket, records: paths.linkRecords, attach: relink },
    },
  };
  const powerButton: Script = {
    template: 'vm-request',
    data: {
      origin,
      execlineb: opts.programs.execlineb,
      purpose: 'Presses the VM\'s power button; a stop runs it every few seconds',
      request: vmmRequestData(caps.powerButton, paths.controlSocket, opts.programs, limits),
    },
  };
  return {
    type: 'longrun',
    name: serviceName.vm(vm.name),
    run: {
      template: 'vm-run',
      data: {
        origin,
        name: vm.name,
        cgroup,
        userConsole: opts.userConsole,
        guestReady: guestReadyRead !== null,
        execlineb: opts.programs.execlineb,
        vmm: opts.programs.vmm,
        notifyoncheck: opts.programs.s6Notifyoncheck,
        logger: serviceName.logger(vm.name),
        runtimeDir: paths.runtimeDir,
        controlSocket: paths.controlSocket,
        consoleSocket: paths.consoleSocket,
        sandboxRoot: paths.sandboxRoot,
        owner: ownerSpec(ids.vmm),
        drop: dropArgv(ids.vmm, opts.programs),
        sandbox: opts.sandbox === 'none' ? null : sandboxData({
          bwrap: opts.programs.bwrap,
          vmm: opts.programs.vmm,
          makesUserNamespaces: caps.makesUserNamespaces,
          runtimeDir: paths.runtimeDir,
          sandboxRoot: paths.sandboxRoot,
          // What the VMM opens by path; what root handed over as a descriptor is not shown.
          files: [
            ...bootFiles.filter((f) => !f.byDescriptor).map((f) => ({ path: f.source, writable: false })),
            ...handover.disks.filter((d) => !d.byDescriptor).map((d) => ({ path: d.source, writable: d.readonly === 'off' })),
          ],
          kvm: accels.includes('kvm'),
          // A VMM that hot-plugs may be given a provider's tap at any time.
          tun: nets.length > 0 || hotplug !== null,
        }),
        readyTimeoutMs: opts.timeoutUpMs,
        probeTimeoutMs: PROBE_TIMEOUT_MS,
        stop: {
          svc: opts.programs.s6Svc,
          svwait: opts.programs.s6Svwait,
          press: `./data/${POWER_BUTTON}`,
          waitsMs: pressWaits(vm.settings.stopTimeoutMs),
          totalMs: vm.settings.stopTimeoutMs,
        },
        opens: handover.opens,
        kernel: handover.kernel.path,
        initramfs: handover.initramfs?.path ?? null,
        byDescriptor: [...bootFiles, ...handover.disks].filter((f) => f.byDescriptor).map((f) => f.source),
        cmdline: vm.settings.cmdlineExtra === null ? opts.cmdline : `${opts.cmdline} ${vm.settings.cmdlineExtra}`,
        memory: vm.settings.memory,
        memoryMiB: memoryMiB(vm.settings.memory),
        cpus: vm.settings.cpus,
        vmmLog: {
          parent: paths.logDir,
          dir: path.join(paths.logDir, VMM_LOG_SUBDIR),
          s6Log: opts.programs.s6Log,
          owner: ownerSpec(ids.log),
          drop: dropArgv(ids.log, opts.programs),
          maxFileBytes: VMM_LOG_FILE_BYTES,
          maxFiles: VMM_LOG_FILES,
        },
        accels,
        disks: handover.disks,
        nets,
        hotplugArgs: hotplug?.bootArgs ?? [],
        linkRecords: hotplug === null ? null : paths.linkRecords,
      },
    },
    data: new Map<string, Script>([['check', readiness], [POWER_BUTTON, powerButton]]),
    notificationFd: 3,
    timeoutUpMs: opts.timeoutUpMs,
    finish: {
      template: 'vm-finish',
      data: {
        origin,
        execlineb: opts.programs.execlineb,
        cgroup,
        permafailon: opts.programs.s6Permafailon,
        svstat: opts.programs.s6Svstat,
        svdtClear: opts.programs.s6SvdtClear,
        deaths: opts.crashDeaths,
        windowSeconds: opts.crashWindowSeconds,
        events: CRASH_EVENTS,
        quit: vmmRequestData(caps.quit, paths.controlSocket, opts.programs, { ...limits, silenceMs: FINISH_QUIT_SILENCE_MS, totalMs: FINISH_QUIT_MS }),
        quitSeconds: FINISH_QUIT_MS / 1000,
        revoke: handover.revoke,
      },
    },
    maxDeathTally: opts.crashDeaths > S6_DEFAULT_DEATH_TALLY ? opts.crashDeaths : null,
    timeoutKillMs: vm.settings.stopTimeoutMs + KILL_GRACE_MS,
    // The last resort comes when trap's own kill did not work (an s6-svc
    // without -K, whose SIGINT the VMM ignored): SIGKILL to trap alone would
    // leave the VMM running, on the VM's disks, with no service.
    timeoutKillsGroup: true,
    timeoutDownMs: vm.settings.stopTimeoutMs + 2 * KILL_GRACE_MS,
    // A client needs its links' devices and the provider VM up; a provider
    // needs its links' devices only where they are in its argv (else each
    // link depends on it).
    dependencies: sortedBytewise([
      ...vm.providers.map(serviceName.vm),
      ...links.asClient.map((l) => l.service),
      ...provided.map((l) => l.service),
    ]),
    producerFor: serviceName.logger(vm.name),
    consumerFor: null,
    pipelineName: null,
  };
}
