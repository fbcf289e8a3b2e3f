import { Worker } from 'node:worker_threads';

/*
 * SQLite copies the WAL back into the database ("checkpoint") inside whichever commit crosses
 * wal_autocheckpoint, so now and then one append or one projection batch pays tens to hundreds of
 * milliseconds of page copying and fsync, and every request queued behind it on the event loop waits.
 * A worker thread with its own connection checkpoints PASSIVE-ly (never blocking readers or writers)
 * on a timer instead; the connection's own autocheckpoint stays as a high fallback.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
// the checkpointer is only an optimisation: a file already gone (a store closed and removed while this
// thread was still starting) ends the thread quietly instead of failing the process
let db;
try { db = new Database(workerData.file, { fileMustExist: true }); } catch (e) { process.exit(0); }
db.pragma('busy_timeout = 0');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (e) { /* busy or closed: try next tick */ }
}, workerData.intervalMs);
parentPort.on('message', () => { clearInterval(timer); db.close(); process.exit(0); });
`;

export interface BackgroundCheckpointer {
  stop(): Promise<void>;
}

export function startBackgroundCheckpointer(file: string, intervalMs = 250): BackgroundCheckpointer {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, intervalMs, driver: require.resolve('better-sqlite3') } });
  worker.unref();
  // an error inside the thread (it cannot open the file any more) is not the store's error
  worker.on('error', () => undefined);
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        // keep the process alive until the thread has closed its connection
        worker.ref();
        worker.once('exit', () => resolve());
        worker.postMessage('stop');
      });
      return stopped;
    },
  };
}
