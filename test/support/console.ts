/** `vmsvc console` driven as a person would: a line typed into the guest's shell, its answer read back. */
import { spawn } from 'node:child_process';
import { VMSVC } from './cli.js';

/**
 * Runs `vmsvc console ...args`, types `line` (twice: a freshly attached shell
 * may not be reading yet) and resolves with all it printed once that matches
 * `expect`; rejects after `ms`.
 */
export function consoleAnswer(args: readonly string[], line: string, expect: RegExp, env: NodeJS.ProcessEnv = process.env, ms = 60_000): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [VMSVC, 'console', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let got = '';
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`vmsvc console gave no answer: ${JSON.stringify(got)}`));
    }, ms);
    child.stdout.on('data', (d: Buffer) => {
      got += d.toString('utf8');
      if (expect.test(got)) {
        clearTimeout(timer);
        child.stdin.end();
      }
    });
    child.on('close', () => resolve(got));
    child.stdin.write(`${line}\n`);
    setTimeout(() => child.stdin.writable && child.stdin.write(`${line}\n`), 1500);
  });
}
