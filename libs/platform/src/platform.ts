import Database from 'better-sqlite3';
import { join, resolve } from 'node:path';
import type { AppConfig } from '@cem/config';
import { EsdbEventStore, SqliteEventStore, type EventStore } from '@cem/event-store';
import { ensureOwnerOnlyDir, prepareOwnerOnlySqliteFile } from '@cem/event-store/sqlite/owner-only';
import { EsdbIdentityRegistry, SqliteIdentityRegistry, type IdentityRegistry } from '@cem/identity';
import { IngestionService } from '@cem/ingestion';
import { ApiKeyStore } from './api-keys';

const logger = {
  warn: (msg: string) => process.stderr.write(`${JSON.stringify({ level: 'warn', context: 'event-store', message: msg })}\n`),
};

/** The wired write side of one deployment: what every app (api, cli, kafka-ingest) starts from. */
export interface Platform {
  config: AppConfig;
  store: EventStore;
  registry: IdentityRegistry;
  ingestion: IngestionService;
  apiKeys: ApiKeyStore;
  /** the embedded platform database (identity registry, API keys); SQLite in every mode */
  db: Database.Database;
  /**
   * Boot check of the event store (EventStoreDB: `$all` readable, internal streams not deleted; see
   * EsdbEventStore.checkServer); throws what must stop the process, logs an unreachable server.
   */
  checkStore(): Promise<void>;
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
  const dataDir = resolve(config.DATA_DIR);
  // data files hold key hashes, identifiers and personal data: owner-only (0600, a new data dir 0700)
  ensureOwnerOnlyDir(dataDir);
  prepareOwnerOnlySqliteFile(join(dataDir, 'platform.db'));
  const db = new Database(join(dataDir, 'platform.db'));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${config.SQLITE_SYNCHRONOUS}`);
  db.pragma('busy_timeout = 10000');

  let store = overrides.store;
  let registry = overrides.registry;
  if (!store && config.EVENT_STORE === 'esdb') {
    // production: the log and the identity registry both live in EventStoreDB, so several API
    // instances can share it; the local platform.db keeps only API keys
    const esdb = EsdbEventStore.connect(config.ESDB_CONNECTION_STRING!, { log: (m) => logger.warn(m) });
    store = esdb;
    registry ??= new EsdbIdentityRegistry(esdb.client);
  }
  store ??= new SqliteEventStore(join(dataDir, 'events.db'), { synchronous: config.SQLITE_SYNCHRONOUS });
  registry ??= new SqliteIdentityRegistry(db);
  const ingestion = new IngestionService(store, registry, {
    now: overrides.now ?? Date.now,
    maxFutureSkewMs: config.MAX_FUTURE_SKEW_SECONDS * 1000,
    defaultPhoneRegion: config.DEFAULT_PHONE_REGION,
  });
  const apiKeys = new ApiKeyStore(db, config.API_KEYS);
  return {
    config,
    store,
    registry,
    ingestion,
    apiKeys,
    db,
    async checkStore() {
      if (store instanceof EsdbEventStore && (await store.checkServer()) === 'unreachable')
        logger.warn('EventStoreDB is unreachable at boot; calls answer 503 until it is back');
    },
    async close() {
      await store!.close();
      await registry!.close();
      if (db.open) db.close();
    },
  };
}
