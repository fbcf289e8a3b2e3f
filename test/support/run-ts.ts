import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..');

/** Starts a TypeScript file of the repo in its own Node process (transpiled on the fly by swc). */
export function runTs(file: string, env: Record<string, string>, args: readonly string[] = []): ChildProcess {
  return spawn(process.execPath, ['-r', '@swc-node/register', resolve(REPO_ROOT, file), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Waits for a process to exit and returns its output; rejects on a non-zero exit. */
export function finished(child: ChildProcess): Promise<string> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  return new Promise((resolvePromise, reject) => {
    child.on('exit', (code, signal) =>
      code === 0 ? resolvePromise(out) : reject(new Error(`exit ${code ?? signal}: ${err.slice(-2000)}`)),
    );
  });
}
