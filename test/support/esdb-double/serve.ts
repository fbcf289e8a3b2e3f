/**
 * Runs the gRPC double in a process of its own (for the bench: the server's work is then not paid by
 * the process under measurement, as with a real server). Started with `fork`: it sends
 * `{ connectionString }` once listening, answers `'stats'` with `{ stats, calls }`, and exits on `'stop'`.
 */
import { EsdbDouble } from './esdb-double';

async function main(): Promise<void> {
  if (!process.send) throw new Error('serve.ts is meant to be started with child_process.fork');
  const double = new EsdbDouble({
    maxAppendSize: process.env.ESDB_DOUBLE_MAX_APPEND_SIZE ? Number(process.env.ESDB_DOUBLE_MAX_APPEND_SIZE) : undefined,
  });
  const connectionString = await double.start();
  process.on('message', (message) => {
    if (message === 'stats') process.send!({ stats: { ...double.stats }, calls: double.calls });
    if (message === 'stop') {
      double.stop();
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ connectionString });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
