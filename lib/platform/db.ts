import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import pg from 'pg';
import type { Config } from './config';

// BIGINT (int8) columns hold byte counts far below 2^53: parse them as numbers, not strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Db = Knex;

/** SQL for a timestamptz as ISO 8601 text in UTC with its microseconds (a JS Date keeps only milliseconds). */
export const exactTimeSql = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

// Each combination is parenthesized whole: knex's where(raw) adds no parentheses of its own.
export function allOf(db: Knex, parts: Knex.Raw[]): Knex.Raw {
  return parts.length ? db.raw(`(${parts.map(() => '(?)').join(' AND ')})`, parts) : db.raw('(TRUE)');
}

export function anyOf(db: Knex, parts: Knex.Raw[]): Knex.Raw {
  return parts.length ? db.raw(`(${parts.map(() => '(?)').join(' OR ')})`, parts) : db.raw('(FALSE)');
}

/** The health check's question: the database answers a trivial query. */
export async function pingDatabase(db: Db): Promise<void> {
  await db.raw('SELECT 1');
}

export function createDb(url: string, poolMax = 10, acquireTimeoutMs = 10_000, afterConnect?: (connection: pg.Client) => Promise<void>): Db {
  const db = knexFactory({
    client: 'pg',
    connection: { connectionString: url, application_name: 'storage-service' },
    pool: {
      min: 0,
      max: poolMax,
      ...(afterConnect && {
        // knex leaves a connection its afterCreate refused open: it is ended here.
        afterCreate: (connection: pg.Client, done: (err: Error | null, connection: pg.Client) => void) => {
          afterConnect(connection).then(
            () => done(null, connection),
            (err: Error) =>
              void connection
                .end()
                .catch(() => {})
                .then(() => done(err, connection)),
          );
        },
      }),
    },
    acquireConnectionTimeout: acquireTimeoutMs,
    // Every failure also rejects the query that met it; knex's own console lines would say it twice.
    log: { warn: () => {}, error: () => {}, deprecate: () => {}, debug: () => {} },
  });
  return db;
}

/** A role the service must not run as in production: it could alter the audit log, or its triggers. */
export class PrivilegedRoleError extends Error {
  constructor(reason: string) {
    super(
      `refused: the database role ${reason}, so it could erase or rewrite the audit log. Run the API and the worker as a login ` +
        'role of storage_app (docs/security.md, "The database roles"), or set STORAGE_DATABASE_ALLOW_PRIVILEGED_ROLE=true to run as it anyway.',
    );
    this.name = 'PrivilegedRoleError';
  }
}

// Every role the session could act as (its own, and those it is a member of: SET ROLE reaches them,
// a RESET ROLE undoes one), its own first, with what would let it alter the audit log or its triggers.
const ROLE_CHECK_SQL = `
  SELECT session_user AS login, r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole,
         r.oid = (SELECT relowner FROM pg_class WHERE oid = to_regclass('audit_log')) AS owner
  FROM pg_roles r
  WHERE pg_has_role(session_user, r.oid, 'MEMBER') OR pg_has_role(current_user, r.oid, 'MEMBER')
  ORDER BY r.rolname <> session_user, r.rolname`;

const POWERS = [
  ['rolsuper', 'is a superuser'],
  // It may grant itself membership of the owner.
  ['rolcreaterole', 'may create roles'],
  ['rolbypassrls', 'may bypass row security'],
  ['owner', 'owns the audit log'],
] as const;

async function refusePrivilegedRole(connection: pg.Client): Promise<void> {
  const { rows } = await connection.query(ROLE_CHECK_SQL);
  for (const row of rows) {
    const power = POWERS.find(([flag]) => row[flag]);
    if (!power) continue;
    const login = pg.escapeIdentifier(row.login);
    throw new PrivilegedRoleError(
      row.rolname === row.login ? `${login} ${power[1]}` : `${login} is a member of ${pg.escapeIdentifier(row.rolname)}, which ${power[1]}`,
    );
  }
}

/** The pool of the API and the worker: each connection's role is checked when it is made, when production asks for it. */
export function createServiceDb(database: Config['database']): Db {
  return createDb(database.url, database.poolMax, undefined, database.refusePrivilegedRole ? refusePrivilegedRole : undefined);
}

/**
 * At start, where the role is checked: one it refuses stops the process (exit 78, as a bad
 * configuration does). A database that does not answer yet does not: every connection made later is
 * checked as well.
 */
export async function exitOnRefusedRole(db: Db, database: Config['database']): Promise<void> {
  if (!database.refusePrivilegedRole) return;
  try {
    await db.raw('SELECT 1');
  } catch (err) {
    if (!(err instanceof PrivilegedRoleError)) return;
    process.stderr.write(`${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
}

const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', 'migrations');

/** Migration settings shared by start-up, tests and the migrate script. */
export function migrationConfig(): Knex.MigratorConfig {
  // Under ts (tsx, jest) the migrations are .ts files; in a compiled build they are .js.
  const ext = path.extname(__filename);
  return { directory: MIGRATIONS_DIR, loadExtensions: [ext], tableName: 'knex_migrations' };
}

export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = await db.migrate.latest(migrationConfig());
  return applied as string[];
}

export class DatabaseUnreachableError extends Error {
  constructor(url: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `cannot reach PostgreSQL at ${redactUrl(url)} (${reason}). ` +
        'Start a PostgreSQL server there (e.g. `pg_ctlcluster 15 main start`) or point STORAGE_DATABASE_URL at one.',
    );
    this.name = 'DatabaseUnreachableError';
  }
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** Creates the database named in `url` when it is missing; fails with a clear message when no server answers. */
export async function ensureDatabase(url: string): Promise<{ created: boolean }> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) throw new Error(`STORAGE_DATABASE_URL names no database: ${redactUrl(url)}`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    throw new DatabaseUnreachableError(url, err);
  }
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return { created: false };
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    } catch (err) {
      // Another process created it between our check and our CREATE.
      if ((err as { code?: string }).code !== '42P04') throw err;
      return { created: false };
    }
    return { created: true };
  } finally {
    await client.end();
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
