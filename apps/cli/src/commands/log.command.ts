import type { Command } from 'commander';
import { createWriteStream, existsSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { basename } from 'node:path';
import {
  CheckpointError,
  checkReplayRange,
  parseCheckpoint,
  parseSigningKey,
  parseVerifyKey,
  signCheckpoint,
  verifyCheckpoint,
  type LogCheckpoint,
  ImportRefusedError,
  LogFileError,
  ReplayRangeError,
  sealLog,
  SqliteEventStore,
  type ReplayRange,
} from '@cem/event-store';
import {
  cliActor,
  exportLogAction,
  importLogWithRegistry,
  restoreRegistryFromLog,
  logHeadAction,
  performOpsAction,
  readLogHead,
  replayAction,
  verifyLogAction,
  type Platform,
} from '@cem/platform';
import {
  dropReadStoreCopy,
  openReadStore,
  openReadStoreCopy,
  projectRange,
  READ_MODELS,
  readCheckpoint as readProjectionCheckpoint,
  readStoreCopyExists,
  readStoreLocationOf,
} from '@cem/read-models';
import { RegistryNotEmptyError } from '@cem/identity';
import { cliConfig } from '../cli-config';
import { logProgress } from '../progress-line';
import { withPlatform } from '../with-platform';
import { selectReadModels } from './verify.command';

/** Exit code of verify-log when the log does not verify (1 stays "the command could not run"). */
export const EXIT_LOG_ALTERED = 3;

const ANCHOR = /^(\d+):([0-9a-f]{64})$/;
const WHOLE = /^\d+$/;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** A usage error: names the option, nothing is done and nothing recorded. */
class OptionError extends Error {}

const embedded = (platform: Platform): SqliteEventStore | undefined =>
  platform.logStore instanceof SqliteEventStore ? platform.logStore : undefined;

function parseWhole(option: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!WHOLE.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < min)
    throw new OptionError(`${option}: expected a whole number >= ${min}, got "${value}"`);
  return Number(value);
}

function parseInstant(option: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!ISO_INSTANT.test(value) || Number.isNaN(Date.parse(value)))
    throw new OptionError(`${option}: expected an ISO-8601 instant with an offset (e.g. 2026-11-01T00:00:00Z), got "${value}"`);
  return new Date(value).toISOString();
}

/** A file to write, refused when it exists (an export never overwrites); removed again if the command fails. */
async function openOut(
  path: string,
): Promise<{ stream: WriteStream; write: (t: string) => Promise<void>; close: () => Promise<void>; discard: () => void }> {
  if (existsSync(path)) throw new OptionError(`--out: ${path} exists; choose a new file (an export never overwrites one)`);
  const stream = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  await new Promise<void>((resolve, reject) => stream.once('open', () => resolve()).once('error', reject));
  return {
    stream,
    write: (t) => (stream.write(t) ? Promise.resolve() : new Promise((resolve) => stream.once('drain', () => resolve()))),
    close: () => new Promise((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve()))),
    discard: () => {
      stream.destroy();
      rmSync(path, { force: true });
    },
  };
}

const writeStdout = (t: string) =>
  process.stdout.write(t) ? Promise.resolve() : new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()));

/** Reads a file the command needs; a missing or unreadable one is a usage error naming the option. */
function readOption(option: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new OptionError(`${option}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** The key that checks a checkpoint: --public-key, else the public half of LOG_CHECKPOINT_KEY_FILE. */
function checkpointVerifyKey(publicKeyFile: string | undefined) {
  const [option, file] =
    publicKeyFile !== undefined ? ['--public-key', publicKeyFile] : ['LOG_CHECKPOINT_KEY_FILE', cliConfig().LOG_CHECKPOINT_KEY_FILE];
  if (file === undefined)
    throw new OptionError('--public-key: give the public key that signed the checkpoint (or set LOG_CHECKPOINT_KEY_FILE)');
  try {
    return parseVerifyKey(readOption(option, file));
  } catch (e) {
    throw e instanceof CheckpointError ? new OptionError(`${option}: ${e.message}`) : e;
  }
}

/** Reads and checks a checkpoint file: undefined and a reason when its signature does not hold. */
function readCheckpoint(file: string, publicKeyFile: string | undefined): { checkpoint: LogCheckpoint; failure?: string } {
  const key = checkpointVerifyKey(publicKeyFile);
  let checkpoint: LogCheckpoint;
  try {
    checkpoint = parseCheckpoint(readOption('--checkpoint', file));
  } catch (e) {
    throw e instanceof CheckpointError ? new OptionError(`--checkpoint: ${file}: ${e.message}`) : e;
  }
  const check = verifyCheckpoint(checkpoint, key);
  return { checkpoint, failure: check.ok ? undefined : check.reason };
}

type ReplayOptions = CommonOptions & {
  fromPosition?: string;
  fromTime?: string;
  toPosition?: string;
  toTime?: string;
  out?: string;
  projection?: string;
  into?: string;
};

interface CommonOptions {
  actor?: string;
  progress: boolean;
}

export function registerLogCommands(program: Command): void {
  const log = program.command('log').description('The tamper-evident event log (see docs/operations.md)');
  log
    .command('head')
    .description('Print the head of the hash chain (link number, position, hash) to keep outside the platform')
    .option('--json', 'print it as JSON')
    .option('--actor <name>', 'who runs it, for the ops record (default: the OS user)')
    .action(async (opts: { json?: boolean; actor?: string }) =>
      withPlatform(async (platform) => {
        const head = await logHeadAction(platform, cliActor(opts.actor));
        if (opts.json) console.log(JSON.stringify({ seq: head.seq, position: head.position, hash: head.hash }));
        else {
          console.log(`${head.sealed ? 'sealed head' : 'head'}: event #${head.seq} at position ${head.position}`);
          console.log(`anchor: ${head.seq}:${head.hash}`);
        }
      }),
    );

  log
    .command('seal')
    .description(
      'EventStoreDB: chain the events appended since the last seal into the stream cem-internal-chain (the embedded store chains every append)',
    )
    .option('--actor <name>', 'who runs it, for the ops record (default: the OS user)')
    .option('--no-progress', 'no progress output')
    .action(async (opts: CommonOptions) =>
      withPlatform(async (platform) => {
        if (embedded(platform))
          throw new OptionError('log seal: not needed on the embedded event store: every append is chained in its transaction');
        const bar = opts.progress ? logProgress(process.stderr, 'log seal') : undefined;
        const started = Date.now();
        const r = await performOpsAction(platform.store, { action: 'log-seal', actor: cliActor(opts.actor), parameters: {} }, async () => {
          const done = await sealLog(platform.logStore, { onProgress: (n) => bar?.update({ events: n, elapsedMs: Date.now() - started }) });
          bar?.done();
          return {
            ...done,
            result: 'ok' as const,
            outcome: `sealed ${done.sealed} events`,
            figures: { sealed: done.sealed, headSeq: done.head.seq, headHash: done.head.hash },
          };
        });
        console.log(`sealed ${r.sealed} events; sealed head: event #${r.head.seq} at position ${r.head.position}`);
        console.log(`anchor: ${r.head.seq}:${r.head.hash}`);
      }),
    );

  log
    .command('checkpoint')
    .description('Sign the head of the chain with the Ed25519 key of LOG_CHECKPOINT_KEY_FILE and write the checkpoint (JSON)')
    .option('--out <file>', 'write to this new file instead of standard output')
    .option('--actor <name>', 'who runs it, for the ops record (default: the OS user)')
    .action(async (opts: { out?: string; actor?: string }) => {
      const keyFile = cliConfig().LOG_CHECKPOINT_KEY_FILE;
      if (keyFile === undefined)
        throw new OptionError(
          'log checkpoint: LOG_CHECKPOINT_KEY_FILE is not set (the PEM file of an Ed25519 private key; see docs/operations.md)',
        );
      let key;
      try {
        key = parseSigningKey(readOption('LOG_CHECKPOINT_KEY_FILE', keyFile));
      } catch (e) {
        throw e instanceof CheckpointError ? new OptionError(`LOG_CHECKPOINT_KEY_FILE: ${e.message}`) : e;
      }
      const out = opts.out !== undefined ? await openOut(opts.out) : undefined;
      try {
        await withPlatform(async (platform) => {
          const checkpoint = await performOpsAction(
            platform.store,
            { action: 'log-checkpoint', actor: cliActor(opts.actor), parameters: { out: opts.out ? basename(opts.out) : 'stdout' } },
            async () => {
              const head = await readLogHead(platform.logStore);
              const signed = signCheckpoint(head, { store: platform.config.EVENT_STORE, createdAt: new Date().toISOString() }, key);
              return {
                ...signed,
                result: 'ok' as const,
                outcome: `checkpoint of event #${signed.seq}`,
                figures: { headSeq: signed.seq, headHash: signed.hash, keyId: signed.keyId },
              };
            },
          );
          const { result: _r, outcome: _o, figures: _f, ...file } = checkpoint;
          const text = `${JSON.stringify(file, null, 2)}\n`;
          if (out) {
            await out.write(text);
            await out.close();
            console.error(`checkpoint of event #${file.seq} at position ${file.position} signed by key ${file.keyId}: ${opts.out}`);
          } else await writeStdout(text);
        });
      } catch (e) {
        out?.discard();
        throw e;
      }
    });

  log
    .command('verify-checkpoint <file>')
    .description(
      `Check a checkpoint's signature (offline: the log is not read); exit 0 when it holds, ${EXIT_LOG_ALTERED} when it does not. verify-log --checkpoint checks the log against it`,
    )
    .option('--public-key <file>', 'PEM public key (or private key) that signed it (default: the key of LOG_CHECKPOINT_KEY_FILE)')
    .action((file: string, opts: { publicKey?: string }) => {
      const { checkpoint, failure } = readCheckpoint(file, opts.publicKey);
      if (failure) {
        console.log(`checkpoint NOT verified: ${failure}`);
        process.exitCode = EXIT_LOG_ALTERED;
        return;
      }
      console.log(`checkpoint verified: signed by key ${checkpoint.keyId} at ${checkpoint.createdAt} (${checkpoint.store} store)`);
      console.log(`anchor: ${checkpoint.seq}:${checkpoint.hash} (position ${checkpoint.position})`);
    });

  program
    .command('verify-log')
    .description(
      `Recompute the hash chain over the whole log; exit 0 when it verifies, ${EXIT_LOG_ALTERED} at the first altered, missing or inserted event`,
    )
    .option('--expect-head <anchor>', 'an anchor printed earlier by `cem log head` (<seq>:<hash>): the log must still contain it')
    .option(
      '--checkpoint <file>',
      'a signed checkpoint (`cem log checkpoint`): its signature must hold and the log must still contain its link',
    )
    .option('--public-key <file>', 'with --checkpoint: the key that signed it (default: the key of LOG_CHECKPOINT_KEY_FILE)')
    .option('--actor <name>', 'who runs it, for the ops record (default: the OS user)')
    .option('--no-progress', 'no progress output')
    .action(async (opts: CommonOptions & { expectHead?: string; checkpoint?: string; publicKey?: string }) => {
      let expectHead: { seq: number; hash: string } | undefined;
      if (opts.expectHead !== undefined && opts.checkpoint !== undefined)
        throw new OptionError('verify-log: give --expect-head or --checkpoint, not both');
      if (opts.publicKey !== undefined && opts.checkpoint === undefined) throw new OptionError('--public-key: goes with --checkpoint');
      if (opts.checkpoint !== undefined) {
        const { checkpoint, failure } = readCheckpoint(opts.checkpoint, opts.publicKey);
        if (failure) {
          // a forged or altered checkpoint is tamper evidence in itself: the log is not walked
          console.log(`log NOT verified: checkpoint ${basename(opts.checkpoint)}: ${failure}`);
          process.exitCode = EXIT_LOG_ALTERED;
          return;
        }
        expectHead = { seq: checkpoint.seq, hash: checkpoint.hash };
      }
      if (opts.expectHead !== undefined) {
        const m = ANCHOR.exec(opts.expectHead);
        if (!m) throw new OptionError(`--expect-head: expected <seq>:<64 hex digits> as printed by cem log head, got "${opts.expectHead}"`);
        expectHead = { seq: Number(m[1]), hash: m[2] };
      }
      await withPlatform(async (platform) => {
        const bar = opts.progress ? logProgress(process.stderr, 'verify-log') : undefined;
        const result = await verifyLogAction(platform, cliActor(opts.actor), {
          expectHead,
          parameters: {
            expectHead: opts.expectHead ?? (expectHead ? `${expectHead.seq}:${expectHead.hash}` : null),
            checkpoint: opts.checkpoint ? basename(opts.checkpoint) : null,
          },
          onProgress: (p) =>
            bar?.update({ events: p.eventsChecked, elapsedMs: p.elapsedMs, fraction: p.headPosition ? p.position / p.headPosition : 1 }),
        });
        bar?.done();
        const rate = result.elapsedMs > 0 ? Math.round((result.eventsChecked * 1000) / result.elapsedMs) : result.eventsChecked;
        if (result.ok) {
          console.log(`log verified: ${result.eventsChecked} events in ${(result.elapsedMs / 1000).toFixed(1)} s (${rate} events/s)`);
          console.log(`head: event #${result.head.seq} at position ${result.head.position}`);
          console.log(`anchor: ${result.head.seq}:${result.head.hash}`);
          if (result.unsealed > 0) console.log(`${result.unsealed} events after the last seal are not chained yet (run cem log seal)`);
        } else {
          console.log(`log NOT verified: ${result.problem.reason}`);
          console.log(`verified up to event #${result.verified.seq} at position ${result.verified.position}: ${result.verified.hash}`);
          process.exitCode = EXIT_LOG_ALTERED;
        }
      });
    });

  program
    .command('export-log')
    .description('Stream the whole log (up to the head when it starts) as NDJSON with its chain hashes')
    .option('--out <file>', 'write to this new file instead of standard output')
    .option('--actor <name>', 'who runs it, for the ops record (default: the OS user)')
    .option('--no-progress', 'no progress output')
    .action(async (opts: CommonOptions & { out?: string }) => {
      const out = opts.out !== undefined ? await openOut(opts.out) : undefined;
      try {
        await withPlatform(async (platform) => {
          const bar = opts.progress ? logProgress(process.stderr, 'export-log') : undefined;
          const total = await platform.store.headPosition();
          const r = await exportLogAction(platform, cliActor(opts.actor), {
            storeName: platform.config.EVENT_STORE,
            write: out ? out.write : writeStdout,
            parameters: { out: opts.out ? basename(opts.out) : 'stdout' },
            onProgress: (p) => bar?.update({ events: p.events, elapsedMs: p.elapsedMs, fraction: total ? p.events / total : 1 }),
          });
          bar?.done();
          await out?.close();
          console.error(`exported ${r.events} events; head: event #${r.head.seq}, anchor ${r.head.seq}:${r.head.hash}`);
        });
      } catch (e) {
        out?.discard();
        throw e;
      }
    });

  program
    .command('import-log <file>')
    .description(
      'Load a file written by export-log into an EMPTY event store and identity registry (the registry derived from the log); the whole file is checked first (nothing written from a bad one)',
    )
    .option('--actor <name>', 'who runs it, for the ops record (default: the OS user)')
    .option('--no-progress', 'no progress output')
    .action(async (file: string, opts: CommonOptions) => {
      if (!existsSync(file)) throw new OptionError(`import-log: no such file: ${file}`);
      await withPlatform(async (platform) => {
        const bar = opts.progress ? logProgress(process.stderr, 'import-log') : undefined;
        try {
          const r = await performOpsAction(
            platform.store,
            { action: 'import-log', actor: cliActor(opts.actor), parameters: { file: basename(file) } },
            async () => {
              const done = await importLogWithRegistry(platform, file, {
                onProgress: (p) =>
                  bar?.update({
                    events: p.events,
                    elapsedMs: p.elapsedMs,
                    fraction: p.total ? p.events / p.total : undefined,
                    note: p.phase === 'check' ? 'checking the file' : p.phase === 'registry' ? 'identity registry' : 'writing',
                  }),
              });
              bar?.done();
              return {
                ...done,
                result: 'ok' as const,
                outcome: `imported ${done.events} events; identity registry: ${done.registry.customers} customers, ${done.registry.identifiers} identifiers`,
                figures: {
                  events: done.events,
                  headSeq: done.head.seq,
                  headHash: done.head.hash,
                  customers: done.registry.customers,
                  identifiers: done.registry.identifiers,
                  merges: done.registry.merges,
                  unmerges: done.registry.unmerges,
                },
              };
            },
            // A bad file leaves an empty store empty (the ops record would make it non-empty);
            // an import into a non-empty store is recorded as refused.
            (e) =>
              e instanceof ImportRefusedError
                ? 'refused'
                : e instanceof LogFileError || e instanceof RegistryNotEmptyError
                  ? 'not-recorded'
                  : 'failed',
          );
          console.log(`imported ${r.events} events; head: event #${r.head.seq}, anchor ${r.head.seq}:${r.head.hash}`);
          const g = r.registry;
          console.log(
            `identity registry: ${g.customers} customers, ${g.identifiers} identifiers, ${g.merges} merges, ${g.unmerges} unmerges, ${g.conflicts} conflicts`,
          );
          if (!embedded(platform))
            console.log(
              'that is the head of the file: EventStoreDB stamps its own recorded-at, so its chain differs; run cem log seal to chain it',
            );
        } catch (e) {
          bar?.done();
          if (e instanceof LogFileError) throw new Error(`import-log: ${file}: ${e.message} (nothing written)`);
          if (e instanceof ImportRefusedError || e instanceof RegistryNotEmptyError)
            throw new Error(`import-log: ${e.message} (nothing written)`);
          throw e;
        }
      });
    });

  log
    .command('derive-registry')
    .description(
      'Derive the identity registry from the log in this store and write it into the EMPTY registry (after an import-log stopped before its registry step, or a lost registry)',
    )
    .option('--actor <name>', 'who runs it, for the ops record (default: the OS user)')
    .option('--no-progress', 'no progress output')
    .action(async (opts: CommonOptions) => {
      await withPlatform(async (platform) => {
        const bar = opts.progress ? logProgress(process.stderr, 'log derive-registry') : undefined;
        try {
          const g = await performOpsAction(
            platform.store,
            { action: 'derive-registry', actor: cliActor(opts.actor), parameters: {} },
            async () => {
              const total = await platform.store.headPosition();
              const done = await restoreRegistryFromLog(platform, {
                onProgress: (p) =>
                  bar?.update({ events: p.events, elapsedMs: p.elapsedMs, fraction: total ? p.events / total : undefined }),
              });
              bar?.done();
              return {
                ...done,
                result: 'ok' as const,
                outcome: `identity registry: ${done.customers} customers, ${done.identifiers} identifiers`,
                figures: { ...done },
              };
            },
            (e) => (e instanceof RegistryNotEmptyError ? 'refused' : 'failed'),
          );
          console.log(
            `identity registry: ${g.customers} customers, ${g.identifiers} identifiers, ${g.merges} merges, ${g.unmerges} unmerges, ${g.conflicts} conflicts`,
          );
        } catch (e) {
          bar?.done();
          if (e instanceof RegistryNotEmptyError) throw new Error(`log derive-registry: ${e.message} (nothing written)`);
          throw e;
        }
      });
    });

  program
    .command('replay')
    .description(
      'Print a range of the log as NDJSON (one recorded event a line), by position (inclusive) or recorded time (from inclusive, to exclusive)',
    )
    .option('--from-position <n>', 'first position to print')
    .option('--from-time <iso>', 'first recorded instant to print')
    .option('--to-position <n>', 'last position to print (default: the head)')
    .option('--to-time <iso>', 'print events recorded before this instant (default: up to the head)')
    .option('--out <file>', 'write to this new file instead of standard output')
    .option('--projection <readModel>', 'feed the range into this read model in the scratch copy named by --into, instead of printing it')
    .option('--into <copy>', 'with --projection: the scratch copy ([a-z0-9_], at most 40), created at its first range')
    .option('--actor <name>', 'who runs it, for the ops record (default: the OS user)')
    .option('--no-progress', 'no progress output')
    .action(async (opts: ReplayOptions) => {
      if (opts.projection !== undefined || opts.into !== undefined) return replayIntoProjection(opts);
      const range = parseReplayRange(opts);
      const out = opts.out !== undefined ? await openOut(opts.out) : undefined;
      try {
        await withPlatform(async (platform) => {
          const head = await checkReplayRange(platform.logStore, range, new Date()).catch((e: unknown) => {
            // a range the log does not have: nothing to record, nothing done
            throw e instanceof ReplayRangeError ? new OptionError(e.message) : e;
          });
          const bar = opts.progress ? logProgress(process.stderr, 'replay') : undefined;
          const started = Date.now();
          const r = await replayAction(platform, cliActor(opts.actor), {
            range,
            head,
            write: out ? out.write : writeStdout,
            parameters: { out: opts.out ? basename(opts.out) : 'stdout' },
            onProgress: (n, position) => bar?.update({ events: n, elapsedMs: Date.now() - started, fraction: head ? position / head : 1 }),
          });
          bar?.done();
          await out?.close();
          console.error(`replayed ${r.events} events`);
        });
      } catch (e) {
        out?.discard();
        throw e;
      }
    });
}

function parseReplayRange(opts: { fromPosition?: string; fromTime?: string; toPosition?: string; toTime?: string }): ReplayRange {
  if ((opts.fromPosition === undefined) === (opts.fromTime === undefined))
    throw new OptionError('replay: give exactly one of --from-position and --from-time');
  if (opts.toPosition !== undefined && opts.toTime !== undefined)
    throw new OptionError('replay: give at most one of --to-position and --to-time');
  if (opts.fromPosition !== undefined) {
    if (opts.toTime !== undefined) throw new OptionError('--to-time: goes with --from-time; with --from-position give --to-position');
    return {
      by: 'position',
      from: parseWhole('--from-position', opts.fromPosition, 1)!,
      to: parseWhole('--to-position', opts.toPosition, 1),
    };
  }
  if (opts.toPosition !== undefined) throw new OptionError('--to-position: goes with --from-position; with --from-time give --to-time');
  return { by: 'time', from: parseInstant('--from-time', opts.fromTime)!, to: parseInstant('--to-time', opts.toTime) };
}

const COPY_NAME = /^[a-z0-9_]{1,40}$/;

/**
 * `cem replay --projection X --into copy`: feeds a position range of the log into read model X in a
 * scratch copy of its own (`replay_<copy>`), never into the live copy: the live projector owns that
 * one, and most folds are not idempotent (counts, sums, first/last seen), so events fed twice would
 * corrupt it. A fold needs every event before the range, so a range continues the copy exactly: the
 * first one starts at 1, each next one at the copy's position + 1 (an overlap or a gap is refused).
 * Positions only: a fold's state is exact at a position, not at an instant.
 */
async function replayIntoProjection(opts: ReplayOptions): Promise<void> {
  if (opts.projection === undefined) throw new OptionError('--into: goes with --projection');
  if (opts.into === undefined)
    throw new OptionError('--projection: give --into <copy>, the scratch copy to feed (the live copy is never fed)');
  if (!COPY_NAME.test(opts.into)) throw new OptionError(`--into: expected [a-z0-9_], at most 40 characters, got "${opts.into}"`);
  if (opts.fromTime !== undefined || opts.toTime !== undefined)
    throw new OptionError(
      `${opts.fromTime !== undefined ? '--from-time' : '--to-time'}: --projection takes positions only (a fold is exact at a position)`,
    );
  if (opts.out !== undefined) throw new OptionError('--out: goes without --projection (a projection writes into its copy)');
  if (opts.toPosition === undefined) throw new OptionError('--to-position: required with --projection');
  const [model] = selectReadModels([opts.projection]);
  const to = parseWhole('--to-position', opts.toPosition, 1)!;
  const from = parseWhole('--from-position', opts.fromPosition ?? '1', 1)!;
  const into = opts.into;
  const copyName = `replay_${into}`;
  await withPlatform(async (platform) => {
    await checkReplayRange(platform.logStore, { by: 'position', from, to }, new Date()).catch((e: unknown) => {
      throw e instanceof ReplayRangeError ? new OptionError(e.message) : e;
    });
    const location = readStoreLocationOf(platform.config);
    // the live read store is not needed (nor touched); on PostgreSQL it answers whether the copy's schema exists
    const live = location.kind === 'postgres' ? await openReadStore(location, { role: 'reader', readModels: READ_MODELS }) : undefined;
    const exists = await readStoreCopyExists(location, live!, copyName).finally(() => live?.close());
    const copy = await openReadStoreCopy(location, copyName, [model]);
    try {
      const at = (await readProjectionCheckpoint(copy.db, model.name))?.position ?? 0;
      if (from !== at + 1) {
        const reason =
          at === 0
            ? `${from} is not 1: the copy ${into} is new, and a fold needs every event before the range`
            : `${from} is not ${at + 1}: the copy ${into} stands at position ${at} (a range fed twice or with a gap would corrupt the fold)`;
        throw new OptionError(`--from-position: ${reason}`);
      }
      const bar = opts.progress ? logProgress(process.stderr, `replay into ${model.name}`) : undefined;
      const started = Date.now();
      const r = await performOpsAction(
        platform.store,
        {
          action: 'replay',
          actor: cliActor(opts.actor),
          parameters: { projection: model.name, into, fromPosition: from, toPosition: to },
        },
        async () => {
          const reached = await projectRange({
            store: platform.store,
            db: copy.db,
            dataDir: platform.config.DATA_DIR,
            readModels: [model],
            to,
            onProgress: (p) =>
              bar?.update({ events: p.events, elapsedMs: Date.now() - started, fraction: to > at ? (p.position - at) / (to - at) : 1 }),
          });
          bar?.done();
          const position = reached.get(model.name) ?? to;
          return {
            position,
            result: 'ok' as const,
            outcome: `fed positions ${from}-${to} into ${model.name} in ${into}`,
            figures: { position },
          };
        },
      );
      console.log(`${model.name} in copy ${into} now stands at position ${r.position} (fed ${from}-${to})`);
    } catch (e) {
      // a refused first range leaves no empty copy behind
      if (!exists && e instanceof OptionError) {
        await copy.close();
        await dropReadStoreCopy(location, copyName);
        throw e;
      }
      throw e;
    } finally {
      await copy.close().catch(() => undefined);
    }
  });
}
