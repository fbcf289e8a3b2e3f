import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { ReadModel, SqlView } from '../kit/read-model';
import { READ_MODELS } from '../read-models';

/** The analysts' views of `models` (docs/sql.md). */
export const sqlViewsOf = (models: readonly ReadModel[] = READ_MODELS): SqlView[] => models.flatMap((m) => m.sqlViews ?? []);

const quoteLiteral = (text: string) => `'${text.replace(/'/g, "''")}'`;

/**
 * PostgreSQL: the comments of the views and their columns (shown by BI tools and `\d+`), set by the
 * projector after its migrations. Idempotent: a changed comment is simply set again.
 */
export async function commentSqlViews(db: Kysely<any>, models: readonly ReadModel[] = READ_MODELS): Promise<void> {
  for (const view of sqlViewsOf(models)) {
    await sql.raw(`COMMENT ON VIEW ${view.name} IS ${quoteLiteral(view.comment)}`).execute(db);
    for (const [column, comment] of Object.entries(view.columns)) {
      await sql.raw(`COMMENT ON COLUMN ${view.name}.${column} IS ${quoteLiteral(comment)}`).execute(db);
    }
  }
}

/** A PostgreSQL role name the CLI accepts: plain lower-case identifiers only. */
export const SQL_ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export class SqlRoleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SqlRoleError';
  }
}

/**
 * Creates (`create`) or re-grants (`grant`, after an upgrade added views) a login role for BI tools
 * that can read the analysts' views and nothing else: no SELECT on the projector's tables, no
 * write anywhere (no INSERT/UPDATE/DELETE grant, every transaction read-only by default, no CREATE in
 * the schema). The connecting role of `url` needs CREATEROLE and must own the views (the projector's).
 */
export async function provisionSqlRole(
  url: string,
  options: { role: string; password?: string; mode: 'create' | 'grant'; models?: readonly ReadModel[] },
): Promise<{ role: string; database: string; views: string[] }> {
  if (!SQL_ROLE_NAME.test(options.role)) {
    throw new SqlRoleError(
      `--name: ${JSON.stringify(options.role)} is not a role name (lower-case letters, digits, _; at most 63; not starting with a digit)`,
    );
  }
  if (options.mode === 'create' && (options.password === undefined || options.password.length < 16)) {
    throw new SqlRoleError('password: at least 16 characters');
  }
  const views = sqlViewsOf(options.models).map((v) => v.name);
  const client = new pg.Client({ connectionString: url, application_name: 'cem-sql-role' });
  await client.connect();
  try {
    const role = client.escapeIdentifier(options.role);
    const { rows } = await client.query<{ database: string; exists: boolean; missing: string[] }>(
      `SELECT current_database() AS database,
              EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists,
              ARRAY(SELECT v FROM unnest($2::text[]) v WHERE to_regclass(v) IS NULL) AS missing`,
      [options.role, views],
    );
    const { database, exists, missing } = rows[0];
    if (missing.length > 0) {
      throw new SqlRoleError(
        `views ${missing.join(', ')} do not exist in ${database}: start the projector of this version once (it migrates the store)`,
      );
    }
    if (options.mode === 'create' && exists) {
      throw new SqlRoleError(
        `role ${options.role} already exists: choose another name, or \`cem sql-role grant --name ${options.role}\` to grant it the views`,
      );
    }
    if (options.mode === 'grant' && !exists)
      throw new SqlRoleError(`role ${options.role} does not exist: create it with \`cem sql-role create\``);
    await client.query('BEGIN');
    if (options.mode === 'create') {
      await client.query(
        `CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD ${client.escapeLiteral(options.password!)}`,
      );
    }
    await client.query(`ALTER ROLE ${role} SET default_transaction_read_only = on`);
    await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(database)} TO ${role}`);
    await client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await client.query(`REVOKE CREATE ON SCHEMA public FROM ${role}`);
    if (views.length > 0) await client.query(`GRANT SELECT ON ${views.join(', ')} TO ${role}`);
    await client.query('COMMIT');
    return { role: options.role, database, views };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    await client.end();
  }
}
