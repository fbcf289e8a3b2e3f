import { importLog, type ChainHead, type TransferProgress } from '@cem/event-store';
import { emptyRegistryDerivation, foldRegistryEvents, RegistryNotEmptyError, registryStateOf, type RegistryState } from '@cem/identity';
import type { Platform } from './platform';

export interface ImportLogProgress {
  phase: TransferProgress['phase'] | 'registry';
  /** events (check, write, registry: events read) or registry entries written (registry, `entries`) */
  events: number;
  total?: number;
  elapsedMs: number;
}

export interface ImportLogResult {
  head: ChainHead;
  events: number;
  /** what the identity registry was given */
  registry: { customers: number; identifiers: number; merges: number; unmerges: number; conflicts: number };
}

/**
 * `cem import-log`: loads a log file into the platform's empty store (importLog: checked whole
 * first, nothing written from a bad file), then gives the platform's empty identity registry the
 * state derived from the imported log (foldRegistryEvents), so identifiers resolve to the same
 * customers as in the store the file came from. Both must be empty; a registry that is not is
 * refused before any event is written
 * (RegistryNotEmptyError). The log is read through the platform's store, decrypted, so
 * the identifiers are keyed as this registry keys them (the blind index when PRIVACY_INDEX_SECRET
 * is set): with encryption on, the data directory needs the key store the events were sealed with.
 */
export async function importLogWithRegistry(
  platform: Pick<Platform, 'store' | 'logStore' | 'registry' | 'identifierIndex'>,
  file: string,
  opts: { onProgress?: (p: ImportLogProgress) => void; now?: () => number; pageSize?: number } = {},
): Promise<ImportLogResult> {
  const now = opts.now ?? Date.now;
  const started = now();
  // a non-empty log is refused by importLog (ImportRefusedError); an empty log beside a registry that
  // holds something (customers resolved whose events never landed, a registry restored before) here
  if ((await platform.logStore.headPosition()) === 0 && !(await platform.registry.isEmpty()))
    throw new RegistryNotEmptyError('the identity registry is not empty: import-log loads into an empty store and an empty registry only');
  const done = await importLog(platform.logStore, file, { onProgress: opts.onProgress, now, pageSize: opts.pageSize });

  const registry = await restoreRegistryFromLog(platform, { ...opts, total: done.events, started });
  return { ...done, registry };
}

/**
 * Derives the identity registry from the log already in the store and writes it into the empty
 * registry (RegistryNotEmptyError otherwise, nothing written): the second step of
 * importLogWithRegistry, and on its own (`cem import-log --registry-only`) after an import stopped
 * before it, or when the registry's storage was lost while the log was kept.
 */
export async function restoreRegistryFromLog(
  platform: Pick<Platform, 'store' | 'registry' | 'identifierIndex'>,
  opts: { onProgress?: (p: ImportLogProgress) => void; now?: () => number; pageSize?: number; total?: number; started?: number } = {},
): Promise<ImportLogResult['registry']> {
  const now = opts.now ?? Date.now;
  const started = opts.started ?? now();
  if (!(await platform.registry.isEmpty()))
    throw new RegistryNotEmptyError('the identity registry is not empty: a registry is derived from the log into an empty registry only');
  const derivation = emptyRegistryDerivation();
  const pageSize = opts.pageSize ?? 5000;
  let after = 0;
  let read = 0;
  for (;;) {
    const page = await platform.store.readAll({ after, maxCount: pageSize });
    if (page.length === 0) break;
    foldRegistryEvents(derivation, page, platform.identifierIndex.keyOf);
    read += page.length;
    after = page[page.length - 1].position;
    opts.onProgress?.({ phase: 'registry', events: read, total: opts.total, elapsedMs: now() - started });
  }
  const state: RegistryState = registryStateOf(derivation);
  await platform.registry.restore(state, (n, total) =>
    opts.onProgress?.({ phase: 'registry', events: n, total, elapsedMs: now() - started }),
  );
  return {
    customers: state.customers.length,
    identifiers: state.identifiers.size,
    merges: state.merges.length,
    unmerges: state.unmerges.length,
    conflicts: state.conflicts.length,
  };
}
