import Database from 'better-sqlite3';
import { join, resolve } from 'node:path';
import { createLogger, type AppConfig, type Logger } from '@cem/config';
import { EsdbEventStore, SqliteEventStore, type EventStore } from '@cem/event-store';
import { ensureOwnerOnlyDir, prepareOwnerOnlySqliteFile } from '@cem/event-store/sqlite/owner-only';
import { blindIdentifierIndex, customerStreamId, PLAIN_IDENTIFIER_INDEX, type IdentifierIndex } from '@cem/domain';
import { EsdbIdentityRegistry, SqliteIdentityRegistry, type IdentityRegistry } from '@cem/identity';
import { IngestionService } from '@cem/ingestion';
import { EncryptingEventStore, parseSecretKey, SqliteKeyStore } from '@cem/privacy';
import { hkdfSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { ApiKeyStore } from './api-keys';

/** The wired write side of one deployment: what every app (api, cli, kafka-ingest) starts from. */
export interface Platform {
  config: AppConfig;
  /** the event log as readers and writers see it: personal data encrypted on append, decrypted on read */
  store: EventStore;
  /** the event log as stored (ciphertext): for the log's own operations (chain, export, import, replay) */
  logStore: EventStore;
  /** the per-customer data keys; undefined when PRIVACY_MASTER_KEY is not set (personal data in plaintext) */
  keys?: SqliteKeyStore;
  registry: IdentityRegistry;
  /**
   * How identifiers are keyed where they are stored to find a customer (the identity registry, the
   * read models' identifier index): the blind index when PRIVACY_INDEX_SECRET is set, else plain
   */
  identifierIndex: IdentifierIndex;
  ingestion: IngestionService;
  apiKeys: ApiKeyStore;
  /** the embedded platform database (identity registry, API keys); SQLite in every mode */
  db: Database.Database;
  /**
   * Boot check of the event store (EventStoreDB: `$all` readable, internal streams not deleted; see
   * EsdbEventStore.checkServer); throws what must stop the process, logs an unreachable server.
   */
  checkStore(): Promise<void>;
  /**
   * For a process that ingests (API, Kafka consumer), after checkStore and before serving: on
   * EventStoreDB the identity registry starts following its streams and returns once caught up
   * (docs/eventstoredb.md); nothing to do on the embedded registry. Other processes skip it (a
   * resolution would start it on first use).
   */
  readyToIngest(): Promise<void>;
  close(): Promise<void>;
}

export interface PlatformOverrides {
  now?: () => number;
  store?: EventStore;
  registry?: IdentityRegistry;
}

/**
 * Opens the platform on its configured adapters. The embedded default keeps everything in DATA_DIR:
 * `events.db` (the event log) and `platform.db` (identity registry, API keys).
 */
export function openPlatform(config: AppConfig, overrides: PlatformOverrides = {}): Platform {
  // at the configured LOG_LEVEL, on stderr (the CLI's stdout carries command output)
  const logger = createLogger({ level: config.LOG_LEVEL, component: 'platform', stream: 'stderr' });
  const dataDir = resolve(config.DATA_DIR);
  // data files hold key hashes, identifiers and personal data: owner-only (0600, a new data dir 0700)
  ensureOwnerOnlyDir(dataDir);
  prepareOwnerOnlySqliteFile(join(dataDir, 'platform.db'));
  const db = new Database(join(dataDir, 'platform.db'));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${config.SQLITE_SYNCHRONOUS}`);
  db.pragma('busy_timeout = 10000');

  const identifierIndex = identifierIndexOf(config);
  let keys: SqliteKeyStore | undefined;
  try {
    keys = openKeyStore(config, dataDir);
  } catch (e) {
    db.close(); // refused (no or another master key): nothing else is open yet
    throw e;
  }
  let store = overrides.store;
  let registry = overrides.registry;
  if (!store && config.EVENT_STORE === 'esdb') {
    // production: the log and the identity registry both live in EventStoreDB, so several API
    // instances can share it; the local platform.db keeps only API keys
    const esdb = EsdbEventStore.connect(config.ESDB_CONNECTION_STRING!, { log: (m) => logger.warn(m) });
    store = esdb;
    registry ??= new EsdbIdentityRegistry(esdb.client, {
      index: identifierIndex,
      // a customer just issued has no stream yet: ingestion appends to it without reading its revision
      onRegistered: (customerId) => esdb.noteNewStreams([customerStreamId(customerId)]),
      log: (m) => logger.warn(m),
    });
  }
  if (!registry) {
    let embedded: SqliteIdentityRegistry;
    try {
      embedded = new SqliteIdentityRegistry(db, { index: identifierIndex });
    } catch (e) {
      // refused (keyed by another index): close what is open
      db.close();
      void keys?.close();
      throw e;
    }
    if (embedded.rekeyed > 0)
      logger.warn(`identity registry: ${embedded.rekeyed} identifiers re-keyed from plaintext to the blind index (docs/privacy.md)`);
    registry = embedded;
  }
  store ??= new SqliteEventStore(join(dataDir, 'events.db'), { synchronous: config.SQLITE_SYNCHRONOUS });
  const logStore = store;
  if (keys) store = new EncryptingEventStore(logStore, keys, contentDigestKey(config.PRIVACY_INDEX_SECRET!), identifierIndex);
  const ingestion = new IngestionService(store, registry, {
    now: overrides.now ?? Date.now,
    maxFutureSkewMs: config.MAX_FUTURE_SKEW_SECONDS * 1000,
    defaultPhoneRegion: config.DEFAULT_PHONE_REGION,
  });
  const apiKeys = new ApiKeyStore(db, config.API_KEYS);
  let reachableAtBoot = true;
  return {
    config,
    store,
    logStore,
    keys,
    registry,
    identifierIndex,
    ingestion,
    apiKeys,
    db,
    async checkStore() {
      if (logStore instanceof EsdbEventStore && (await logStore.checkServer()) === 'unreachable') {
        logger.warn('EventStoreDB is unreachable at boot; calls answer 503 until it is back');
        reachableAtBoot = false;
        return;
      }
      if (registry instanceof EsdbIdentityRegistry) await registry.checkIndex((await logStore.readAll({ maxCount: 1 })).length > 0);
      await reportPlaintextPersonalData(logStore, keys, logger);
    },
    async readyToIngest() {
      if (!(registry instanceof EsdbIdentityRegistry)) return;
      // a server away at boot: follow in the background (resolutions read, and answer 503, meanwhile)
      if (reachableAtBoot) await registry.start();
      else void registry.start();
    },
    async close() {
      await registry!.close(); // first: it may follow the registry on the store's connection
      await store!.close(); // closes the key store too when it wraps the log
      if (db.open) db.close();
    },
  };
}

/** The key store when PRIVACY_MASTER_KEY is set; refuses to run without it once keys exist. */
function openKeyStore(config: AppConfig, dataDir: string): SqliteKeyStore | undefined {
  const file = join(dataDir, 'keys.db');
  if (config.PRIVACY_MASTER_KEY === undefined) {
    if (existsSync(file)) {
      const probe = new Database(file, { readonly: true, fileMustExist: true });
      try {
        const n = probe.prepare<[], { n: number }>("SELECT count(*) AS n FROM sqlite_master WHERE name = 'customer_keys'").get()!.n;
        const keysHeld = n > 0 && probe.prepare<[], { n: number }>('SELECT count(*) AS n FROM customer_keys').get()!.n > 0;
        if (keysHeld)
          throw new Error(
            'PRIVACY_MASTER_KEY: required: the key store of this data directory holds customer keys, so the event log holds encrypted personal data',
          );
      } finally {
        probe.close();
      }
    }
    return undefined;
  }
  return new SqliteKeyStore(file, parseSecretKey(config.PRIVACY_MASTER_KEY)!);
}

/** The blind index keyed by PRIVACY_INDEX_SECRET when it is set (privacy on), else plain `kind:value`. */
export const identifierIndexOf = (config: Pick<AppConfig, 'PRIVACY_INDEX_SECRET'>): IdentifierIndex =>
  config.PRIVACY_INDEX_SECRET === undefined ? PLAIN_IDENTIFIER_INDEX : blindIdentifierIndex(parseSecretKey(config.PRIVACY_INDEX_SECRET)!);

/** The key of the content digests (the idempotency hash of encrypted events), derived from PRIVACY_INDEX_SECRET. */
const contentDigestKey = (secret: string): Buffer =>
  Buffer.from(hkdfSync('sha256', parseSecretKey(secret)!, Buffer.alloc(0), 'cem content digest', 32));

/**
 * The first start with encryption records how far the log reached: personal data of events up to that
 * position was written in plaintext. Every start says so while it is the case.
 */
async function reportPlaintextPersonalData(logStore: EventStore, keys: SqliteKeyStore | undefined, logger: Logger): Promise<void> {
  if (!keys) {
    logger.warn('PRIVACY_MASTER_KEY is not set: personal data is stored in plaintext and cannot be erased (docs/privacy.md)');
    return;
  }
  let before = keys.setting('plaintext-before-position');
  if (before === undefined) {
    before = String(await logStore.headPosition());
    keys.setSetting('plaintext-before-position', before);
  }
  if (Number(before) > 0)
    logger.warn(
      `events up to log position ${before} were written before encryption was switched on: their personal data is stored in plaintext and is not erased by key destruction (docs/privacy.md)`,
    );
}
