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

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** Waits for a process to exit, however it exits, and returns its exit code (or signal) and output. */
export function outcome(child: ChildProcess): Promise<Outcome> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  return new Promise((resolvePromise) => child.on('exit', (code, signal) => resolvePromise({ code, signal, out, err })));
}

/** Waits for a process to exit and returns its output; rejects on a non-zero exit. */
export async function finished(child: ChildProcess): Promise<string> {
  const { code, signal, out, err } = await outcome(child);
  if (code !== 0) throw new Error(`exit ${code ?? signal}: ${err.slice(-2000)}`);
  return out;
}

/** Runs `cem` (apps/cli) with these arguments in its own process; its outcome, whatever the exit code. */
export const runCli = (env: Record<string, string>, args: readonly string[]): Promise<Outcome> =>
  outcome(runTs('apps/cli/src/main.ts', env, args));
