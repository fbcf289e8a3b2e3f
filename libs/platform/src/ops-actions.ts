import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import type { OpsActionPerformedV1 } from '@cem/domain';
import type { EventStore } from '@cem/event-store';

/** The stream every ops action is recorded on (see docs/operations.md, "Ops actions are events"). */
export const OPS_STREAM = 'cem-ops';

export type OpsActor = OpsActionPerformedV1['actor'];

/** Who runs a CLI command: the `--actor` name when given, else the OS user. */
export function cliActor(named?: string): OpsActor {
  if (named !== undefined) return { kind: 'named', name: named };
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = process.env.USER ?? 'unknown';
  }
  return { kind: 'os-user', name };
}

/** Who calls an admin endpoint: the API key's name (never its secret, never its id's hash). */
export function apiKeyActor(principal: { name: string }): OpsActor {
  return { kind: 'api-key', name: principal.name };
}

/** What an ops action reports back when it finishes. */
export interface OpsOutcome {
  result: OpsActionPerformedV1['result'];
  outcome: string;
  figures?: OpsActionPerformedV1['figures'];
}

/** Appends one `ops.action-performed` event to the ops stream. */
export async function recordOpsAction(
  store: EventStore,
  action: Omit<OpsActionPerformedV1, 'figures'> & { figures?: OpsActionPerformedV1['figures'] },
): Promise<void> {
  const data: OpsActionPerformedV1 = { ...action, figures: action.figures ?? {} };
  await store.appendToStream(OPS_STREAM, [
    {
      eventId: randomUUID(),
      type: 'ops.action-performed',
      data,
      // the front end it came through: the admin API for a key, the CLI otherwise
      metadata: { schemaVersion: 1, occurredAt: action.finishedAt, source: action.actor.kind === 'api-key' ? 'cem/api' : 'cem/cli' },
    },
  ]);
}

/**
 * Runs an ops action and records it, whatever its end: `run` returns the outcome to record, or
 * throws (recorded with the error's one-line message, then thrown on). `onError` says how a thrown
 * error is recorded: failed (the default), refused (bad input, nothing done), or not at all when
 * writing would defeat the action (an import refused on an empty store must leave it empty).
 */
export async function performOpsAction<T extends OpsOutcome>(
  store: EventStore,
  what: { action: string; actor: OpsActor; parameters: OpsActionPerformedV1['parameters']; now?: () => Date },
  run: () => Promise<T>,
  onError: (e: unknown) => 'failed' | 'refused' | 'not-recorded' = () => 'failed',
): Promise<T> {
  const now = what.now ?? (() => new Date());
  const startedAt = now().toISOString();
  let outcome: T;
  try {
    outcome = await run();
  } catch (e) {
    const result = onError(e);
    if (result !== 'not-recorded') {
      const message = e instanceof Error ? e.message : String(e);
      await recordOpsAction(store, {
        action: what.action,
        actor: what.actor,
        parameters: what.parameters,
        startedAt,
        finishedAt: now().toISOString(),
        result,
        outcome: message.split('\n')[0],
      });
    }
    throw e;
  }
  await recordOpsAction(store, {
    action: what.action,
    actor: what.actor,
    parameters: what.parameters,
    startedAt,
    finishedAt: now().toISOString(),
    result: outcome.result,
    outcome: outcome.outcome,
    figures: outcome.figures,
  });
  return outcome;
}
