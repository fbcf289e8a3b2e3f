import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { EsdbDouble } from './esdb-double';

export interface DoubleProcess {
  connectionString: string;
  stats(): Promise<{ stats: EsdbDouble['stats']; calls: number }>;
  stop(): Promise<void>;
}

/** Starts the gRPC double in its own Node process (compiled `serve.js`, or `serve.ts` through swc). */
export async function startDoubleProcess(): Promise<DoubleProcess> {
  const compiled = __filename.endsWith('.js');
  const child: ChildProcess = fork(join(__dirname, compiled ? 'serve.js' : 'serve.ts'), [], {
    execArgv: compiled ? [] : ['-r', '@swc-node/register'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T>() =>
    new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the double's process exited (${code})`));
      child.once('exit', onExit);
      child.once('message', (m) => {
        child.off('exit', onExit);
        resolve(m as T);
      });
    });
  const { connectionString } = await next<{ connectionString: string }>();
  return {
    connectionString,
    stats: () => {
      const answer = next<{ stats: EsdbDouble['stats']; calls: number }>();
      child.send('stats');
      return answer;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.send('stop');
      }),
  };
}
