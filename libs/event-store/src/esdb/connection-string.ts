import { parseConnectionString, type ConnectionOptions } from '@eventstore/db-client/dist/Client/parseConnectionString';

/** Query options client 6.x knows (compared as it does: case, `-` and `_` ignored). */
const KNOWN_OPTIONS = new Set(
  [
    'userCertFile',
    'userKeyFile',
    'maxDiscoverAttempts',
    'connectionName',
    'defaultDeadline',
    'discoveryInterval',
    'gossipTimeout',
    'nodePreference',
    'tls',
    'tlsVerifyCert',
    'tlsCAFile',
    'throwOnAppendFailure',
    'keepAliveInterval',
    'keepAliveTimeout',
  ].map((k) => k.toLowerCase()),
);
const flat = (key: string) => key.trim().toLowerCase().replace(/[_-]/g, '');

/**
 * What is wrong with an EventStoreDB connection string for this adapter, one sentence per problem,
 * each naming the option; empty when it is fine. Never repeats the string itself (it may carry a
 * password). Refused:
 *
 * - anything client 6.x cannot parse, including `kurrentdb://` / `kdb://` (the client speaks
 *   `esdb://` and `esdb+discover://` only; a KurrentDB server takes them all the same);
 * - options the client does not know: it would ignore them with a warning that prints the string;
 * - `throwOnAppendFailure=false`: a refused append would come back as `success: false` (through
 *   BatchAppend with a wrong `nextExpectedRevision`), which the adapter would take for a write;
 * - `nodePreference` other than `leader`: the adapter's reads that decide writes must see the
 *   leader's latest state, and a follower or read-only replica may lag behind.
 */
export function esdbConnectionStringProblems(connectionString: string): string[] {
  const scheme = /^([a-z+]+):\/\//i.exec(connectionString.trim())?.[1]?.toLowerCase();
  if (scheme === 'kurrentdb' || scheme === 'kurrent' || scheme === 'kdb' || scheme === 'kurrentdb+discover' || scheme === 'kdb+discover')
    return [
      `the ${scheme}:// scheme is not understood by @eventstore/db-client 6.x; KurrentDB servers take the same string with esdb:// (or esdb+discover:// for DNS discovery)`,
    ];
  if (scheme !== 'esdb' && scheme !== 'esdb+discover') return ['must start with esdb:// or esdb+discover://'];
  const query = connectionString.includes('?') ? connectionString.slice(connectionString.indexOf('?') + 1) : '';
  const problems: string[] = [];
  for (const pair of query.split('&').filter(Boolean)) {
    const key = pair.split('=')[0];
    if (!KNOWN_OPTIONS.has(flat(key))) problems.push(`unknown option ${JSON.stringify(key.slice(0, 40))}`);
  }
  if (problems.length > 0) return problems;
  let options: ConnectionOptions;
  try {
    options = parseConnectionString(connectionString);
  } catch (err) {
    // the parser's message quotes the string (and so a password): keep only what it expected
    const expected = /, expected (.*?)\.?$/m.exec((err as Error).message)?.[1];
    return [`cannot be parsed${expected ? `: expected ${expected}` : ''}`];
  }
  if (options.throwOnAppendFailure === false)
    problems.push('throwOnAppendFailure=false is refused: a refused append would be reported as success: false and taken for a write');
  if (options.nodePreference !== undefined && options.nodePreference !== 'leader')
    problems.push(
      `nodePreference=${options.nodePreference} is refused: reads that decide a write must see the leader (use nodePreference=leader, the default)`,
    );
  return problems;
}

/** Throws a boot error naming ESDB_CONNECTION_STRING and every problem of the string. */
export function assertSafeConnectionString(connectionString: string): void {
  const problems = esdbConnectionStringProblems(connectionString);
  if (problems.length > 0) throw new Error(`ESDB_CONNECTION_STRING: ${problems.join('; ')} (see docs/eventstoredb.md)`);
}
