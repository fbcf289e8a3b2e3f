import type { TouchpointCommand } from '@cem/domain';
import { IngestConflictError, type IngestResult, type ValidationOutcome } from '@cem/ingestion';
import { closeSync, fchmodSync, ftruncateSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { compileMapping, type CompiledMapping, type RowError } from '../mapping/compile-mapping';
import { buildLookups, LOOKUPS_FILE, type LookupIndex } from './lookups';
import type { MappingSpec } from '../mapping/mapping.types';
import { MappingError } from '../mapping/parse-mapping';
import { ImportFileError, readRecords, type ReadItem, type ReadProgress } from '../reader/read-records';
import {
  canonicalJson,
  CHECKPOINT_FILE,
  ensureDir,
  fileFingerprint,
  readCheckpoint,
  PRIVATE_FILE_MODE,
  REJECTS_FILE,
  sha,
  writeJsonAtomic,
  zeroCounts,
  type Checkpoint,
  type ImportCounts,
} from './checkpoint';

/** The part of IngestionService an import needs (the same validation and append path as HTTP). */
export interface IngestionPort {
  validate(raw: unknown): ValidationOutcome;
  appendCommands(commands: TouchpointCommand[]): Promise<IngestResult[]>;
}

export interface ImportOptions {
  file: string;
  mapping: MappingSpec;
  ingestion: IngestionPort;
  /** where the checkpoint and reject file of this import live (one folder per import) */
  stateDir: string;
  /** events per append (default 5000) */
  batchSize?: number;
  /** lookups read files named by the mapping (default true; false where the mapping comes from a client) */
  allowLookups?: boolean;
  /** ignore a checkpoint and start from the first row */
  restart?: boolean;
  /** stops at the next batch boundary, leaving a checkpoint to resume from */
  signal?: AbortSignal;
  onProgress?: (p: ImportProgress) => void;
  now?: () => number;
}

export interface ImportProgress extends ImportCounts, ReadProgress {
  elapsedMs: number;
  line: number;
}

export interface ImportSummary extends ImportCounts {
  status: 'completed' | 'interrupted';
  /** records skipped because an earlier run had done them (0 for a fresh run) */
  resumedAfterRecords: number;
  rejectFile: string;
  elapsedMs: number;
}

interface PendingRow {
  line: number;
  rules: string[];
  commands: TouchpointCommand[];
}

const CSV_HEADER = 'line,event,field,reason\n';
const csvCell = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/**
 * Imports one file with one mapping: read -> map -> validate (the HTTP DTOs) -> append in large
 * batches through the ingestion service. Resumable (checkpoint after every batch), idempotent
 * (deterministic event ids), and honest: every row is imported, filtered, or in the reject file.
 */
export async function runImport(options: ImportOptions): Promise<ImportSummary> {
  const now = options.now ?? Date.now;
  const started = now();
  const batchSize = options.batchSize ?? 5000;
  const { stateDir, mapping, ingestion } = options;
  ensureDir(stateDir);

  const fingerprint = fileFingerprint(options.file);
  const mappingHash = sha(canonicalJson(mapping)).slice(0, 32);
  const previous = options.restart ? undefined : readCheckpoint(stateDir);
  const resume = previous && previous.fingerprint === fingerprint && previous.mappingHash === mappingHash ? previous : undefined;

  const counts: ImportCounts = resume ? { ...zeroCounts(), ...resume.counts } : zeroCounts();
  // log positions this import appended, durable up to the checkpoint: a duplicate pointing inside
  // is a repeat within the file, not an event some earlier import recorded
  let appended: [number, number] | undefined = resume?.appended;
  const rejectPath = join(stateDir, REJECTS_FILE);
  const rejectFd = openSync(rejectPath, resume ? 'r+' : 'w', PRIVATE_FILE_MODE);
  fchmodSync(rejectFd, PRIVATE_FILE_MODE); // also a report left by an older version
  let rejectBytes: number;
  if (resume) {
    // drop rejects written after the checkpoint: that batch is redone
    ftruncateSync(rejectFd, resume.rejectBytes);
    rejectBytes = resume.rejectBytes;
  } else {
    rejectBytes = writeSync(rejectFd, CSV_HEADER, 0);
  }

  const progress: ReadProgress = { bytesRead: 0, totalBytes: 0 };
  let recordIndex = 0;
  let line = 0;
  let pending: PendingRow[] = [];
  let pendingEvents = 0;
  let pendingRejects = '';
  let pendingRejectRows = 0;
  let pendingFiltered = 0;
  let pendingRead = 0;
  const skip = resume?.recordsDone ?? 0;

  const report = () => options.onProgress?.({ ...counts, ...progress, elapsedMs: now() - started, line });

  const reject = (at: number, errors: RowError[]) => {
    for (const e of errors) pendingRejects += `${at},${csvCell(e.event ?? '')},${csvCell(e.field)},${csvCell(e.reason)}\n`;
    pendingRejectRows++;
  };

  const flush = async () => {
    let rows = pending;
    for (let attempt = 0; rows.length > 0; attempt++) {
      const commands = rows.flatMap((r) => r.commands);
      try {
        const results = await ingestion.appendCommands(commands);
        const fresh = new Set<number>();
        for (const r of results) if (!r.duplicate) fresh.add(r.position);
        for (const r of results) {
          if (!r.duplicate) counts.eventsImported++;
          else {
            counts.eventsDuplicate++;
            if (fresh.has(r.position) || (appended && r.position >= appended[0] && r.position <= appended[1]))
              counts.eventsRepeatedInFile++;
          }
        }
        for (const p of fresh) appended = appended ? [Math.min(appended[0], p), Math.max(appended[1], p)] : [p, p];
        break;
      } catch (e) {
        if (!(e instanceof IngestConflictError) || attempt > 10) throw e;
        // an id recorded with other content: that row changed since an earlier import. Reject it, keep the rest.
        const bad = new Set<PendingRow>();
        const owner: PendingRow[] = rows.flatMap((r) => r.commands.map(() => r));
        for (const err of e.errors) {
          const row = owner[err.index];
          if (!row || bad.has(row)) continue;
          bad.add(row);
          reject(row.line, [
            {
              event: row.rules[row.commands.indexOf(commands[err.index])],
              field: 'eventId',
              reason: 'was already imported with different content: this row (or the mapping) changed since an earlier import',
            },
          ]);
        }
        if (bad.size === 0) throw e;
        rows = rows.filter((r) => !bad.has(r));
      }
    }
    if (pendingRejects) rejectBytes += writeSync(rejectFd, pendingRejects, rejectBytes);
    counts.rowsRead += pendingRead;
    counts.rowsFiltered += pendingFiltered;
    counts.rowsRejected += pendingRejectRows;
    pending = [];
    pendingEvents = pendingRejectRows = pendingFiltered = pendingRead = 0;
    pendingRejects = '';
    const checkpoint: Checkpoint = {
      version: 1,
      fingerprint,
      mappingHash,
      recordsDone: recordIndex,
      lastLine: line,
      rejectBytes,
      counts,
      appended,
      updatedAt: new Date(now()).toISOString(),
    };
    writeJsonAtomic(join(stateDir, CHECKPOINT_FILE), checkpoint);
    report();
  };

  let lookups: LookupIndex | undefined;
  let refused = false;
  try {
    // lookup files are indexed (and checked) before any row of the main file
    if (options.allowLookups === false && mapping.lookups && Object.keys(mapping.lookups).length > 0)
      throw new MappingError([{ path: 'lookups', reason: 'lookups are not available for this import (they read files on the server)' }]);
    lookups = await buildLookups(mapping, options.file, stateDir);
    const records = readRecords(options.file, mapping.input, progress);
    let compiled: CompiledMapping | undefined;
    let columns: string[] | undefined;
    const isCsv = mapping.input.format === 'csv';
    const replayFirsts = skip > 0 && mapping.events.some((e) => e.firstOf !== undefined);
    if (!isCsv) compiled = compileMapping(mapping, undefined, lookups);
    else if (mapping.input.header === false) {
      columns = mapping.input.columns!;
      compiled = compileMapping(mapping, columns, lookups);
    }

    for await (const item of records) {
      if (!compiled) {
        columns = headerColumns(item, mapping);
        compiled = compileMapping(mapping, columns, lookups);
        continue;
      }
      recordIndex++;
      line = item.line;
      const problem =
        item.error ??
        (columns && item.values && item.values.length !== columns.length ? fieldCountProblem(item, columns.length) : undefined);
      if (recordIndex <= skip) {
        // done by an earlier run; first-of-key rules still need to know which keys it saw
        if (replayFirsts && !problem) compiled.map({ line: item.line, text: item.text, values: item.values, object: item.object });
        continue;
      }
      pendingRead++;
      if (problem) {
        reject(item.line, [{ field: '', reason: `line ${problem}` }]);
      } else {
        const outcome = compiled.map({ line: item.line, text: item.text, values: item.values, object: item.object });
        if (outcome.kind === 'filtered') pendingFiltered++;
        else if (outcome.kind === 'rejected') reject(item.line, outcome.errors);
        else {
          const row: PendingRow = { line: item.line, rules: [], commands: [] };
          const errors: RowError[] = [];
          for (const { rule, envelope } of outcome.events) {
            const v = ingestion.validate(envelope);
            if (v.ok) {
              row.rules.push(rule);
              row.commands.push(v.command);
            } else for (const e of v.errors) errors.push({ event: rule, ...e });
          }
          // a row goes in whole or not at all: one bad event rejects the row's other events too
          if (errors.length > 0) reject(item.line, errors);
          else {
            pending.push(row);
            pendingEvents += row.commands.length;
          }
        }
      }
      if (pendingEvents >= batchSize || pendingRejectRows + pendingFiltered >= batchSize) {
        await flush();
        if (options.signal?.aborted) return finish('interrupted');
      }
    }
    if (!compiled) throw new ImportFileError('the file has no header line (it holds only blank lines)');
    await flush();
    return finish('completed');
  } catch (e) {
    // a refused mapping or file imported nothing: leave no (empty) reject report behind
    refused = !resume && (e instanceof MappingError || e instanceof ImportFileError);
    throw e;
  } finally {
    closeSync(rejectFd);
    lookups?.close();
    if (refused) rmSync(rejectPath, { force: true });
  }

  function finish(status: ImportSummary['status']): ImportSummary {
    if (status === 'completed') {
      lookups?.close();
      rmSync(join(stateDir, CHECKPOINT_FILE), { force: true });
      rmSync(join(stateDir, LOOKUPS_FILE), { force: true });
    }
    report();
    return { status, ...counts, resumedAfterRecords: skip, rejectFile: rejectPath, elapsedMs: now() - started };
  }
}

function headerColumns(item: ReadItem, mapping: MappingSpec): string[] {
  if (item.error || !item.values) throw new ImportFileError(`the header line ${item.line} ${item.error ?? 'cannot be read'}`);
  const names = mapping.input.columns ?? item.values;
  if (mapping.input.columns && mapping.input.columns.length !== item.values.length) {
    throw new ImportFileError(`input.columns names ${mapping.input.columns.length} columns but the header line has ${item.values.length}`);
  }
  const seen = new Set<string>();
  for (const n of names) {
    if (n === '') throw new ImportFileError('the header line has an empty column name: name the columns with input.columns');
    if (seen.has(n)) throw new ImportFileError(`the header line names column "${n}" twice: name the columns with input.columns`);
    seen.add(n);
  }
  return names;
}

function fieldCountProblem(item: ReadItem, expected: number): string {
  const n = item.values!.length;
  const truncated = n < expected && item.unterminated ? ': it is the last line and has no line end, so the file looks truncated' : '';
  return `has ${n} fields, the header has ${expected}${truncated}`;
}
