/**
 * The service as production runs it (docs/security.md, "The database roles"): the API and the worker connect as
 * a login role that is a member of storage_app and owns nothing. Uploads, reads, a deletion, a backup
 * and its restore, and a sweep with the audit log's retention work as before; that role can neither
 * erase nor rewrite the audit log, nor turn its triggers off. Production refuses to start as a role
 * that could (a superuser, or a member of the tables' owner) unless told to allow it.
 */
import pg from 'pg';
import { foldRefusals } from '../lib/audit/log';
import { createServiceDb, type Db } from '../lib/platform/db';
import { createDb } from '../lib/platform/db';
import { uuidv7 } from '../lib/platform/ids';
import { freePorts } from '../scripts/stack';
import { tokenFor } from './support/auth';
import { bytesOf } from './support/assets';
import { awaitJob } from './support/backups';
import { settled } from './support/catalog';
import { startTestService, type TestContext } from './support/context';
import { call } from './support/http';
import { envFor, spawnService, waitUntil, type ServiceProcess } from './support/processes';

const suffix = uuidv7().slice(-12);
/** The login role the service runs as here; cluster-wide, so named for this file and dropped after it. */
const LOGIN = `storage_app_test_${suffix}`;
/** A login that is not a superuser but is a member of the role that owns the tables. */
const OWNER_MEMBER = `storage_owner_member_${suffix}`;
/** A login of storage_app that may create roles: it could grant itself the owner's. */
const ROLE_MAKER = `storage_role_maker_${suffix}`;

let ctx: TestContext;
/** The same database as the role that migrated it. */
let owner: Db;
let ownerUrl: string;
const as = {} as Record<'alice' | 'gina' | 'admin', string>;
const started: ServiceProcess[] = [];

async function asCluster(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: process.env.STORAGE_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** `url` with the user (and password) of `from`. */
function withUserOf(url: string, from: string): string {
  const target = new URL(url);
  const source = new URL(from);
  target.username = source.username;
  target.password = source.password;
  return target.toString();
}

beforeAll(async () => {
  const tablesOwner = pg.escapeIdentifier(new URL(process.env.STORAGE_DATABASE_URL!).username || 'postgres');
  await asCluster(`CREATE ROLE ${pg.escapeIdentifier(LOGIN)} LOGIN IN ROLE storage_app`);
  await asCluster(`CREATE ROLE ${pg.escapeIdentifier(OWNER_MEMBER)} LOGIN IN ROLE ${tablesOwner}`);
  await asCluster(`CREATE ROLE ${pg.escapeIdentifier(ROLE_MAKER)} LOGIN CREATEROLE IN ROLE storage_app`);
  ctx = await startTestService({ STORAGE_ENVIRONMENT: 'production' }, { databaseUser: LOGIN });
  ownerUrl = withUserOf(ctx.config.database.url, process.env.STORAGE_DATABASE_URL!);
  owner = createDb(ownerUrl, 2);
  Object.assign(as, {
    alice: await tokenFor({ sub: 'alice' }),
    gina: await tokenFor({ sub: 'gina' }),
    admin: await tokenFor({ sub: 'root', roles: ['storage:admin'] }),
  });
});
afterAll(async () => {
  await Promise.all(started.map((p) => p.kill()));
  await owner?.destroy();
  await ctx?.stop();
  await asCluster(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(LOGIN)}`);
  await asCluster(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(OWNER_MEMBER)}`);
  await asCluster(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(ROLE_MAKER)}`);
});

const url = (path: string) => `${ctx.baseUrl}/api/v2${path}`;

function form(name: string, file: Buffer): FormData {
  const body = new FormData();
  body.append('name', name);
  body.append('file', new Blob([file]), 'file.bin');
  return body;
}

async function audit(query: Record<string, string>): Promise<any[]> {
  const res = await call(url(`/audit?${new URLSearchParams({ ...query, limit: '1000' })}`), { as: as.admin });
  expect(res.status).toBe(200);
  return res.body.items;
}

describe('the service as the application role, in production', () => {
  it('connects as a login of storage_app that is neither a superuser nor the owner of anything', async () => {
    const { rows } = await ctx.db.raw(
      `SELECT session_user AS login, r.rolsuper, r.rolbypassrls, pg_has_role(session_user, 'storage_app', 'MEMBER') AS app,
              (SELECT count(*)::int FROM pg_class c WHERE pg_has_role(session_user, c.relowner, 'MEMBER') AND c.relnamespace = 'public'::regnamespace) AS owned
       FROM pg_roles r WHERE r.rolname = session_user`,
    );
    expect(rows).toEqual([{ login: LOGIN, rolsuper: false, rolbypassrls: false, app: true, owned: 0 }]);
  });

  it('uploads, reads, backs up, deletes, restores and sweeps, the audit log’s retention included', async () => {
    const bytes = bytesOf(2048);
    const uploaded = await call(url('/assets/upload'), { method: 'POST', body: form('as the app role.png', bytes), as: as.alice });
    const asset = (await settled(ctx.baseUrl, uploaded, 'asset')).body;
    const read = await fetch(url(`/assets/${asset.id}/content`), { headers: { authorization: `Bearer ${as.alice}` } });
    expect(Buffer.from(await read.arrayBuffer()).equals(bytes)).toBe(true);
    expect((await call(url(`/assets/${asset.id}`), { method: 'PUT', json: { tags: ['kept'] }, as: as.alice })).status).toBe(200);
    // A refused read folds into its row: the role inserts and grows it.
    expect((await call(url(`/assets/${asset.id}`), { as: as.gina })).status).toBe(404);

    const backup = await call(url('/backups'), { method: 'POST', json: { asset_ids: [asset.id] }, as: as.admin });
    expect(backup.status).toBe(202);
    expect(await awaitJob(ctx, `/api/v2/backups/${backup.body.id}`)).toMatchObject({ status: 'completed' });

    const deleted = await call(url(`/assets/${asset.id}?permanent=true`), { method: 'DELETE', as: as.alice });
    expect([202, 204]).toContain(deleted.status);
    await waitUntil('the purge', async () => (await owner('assets').where({ id: asset.id }).first()) === undefined);

    const restore = await call(url(`/backups/${backup.body.id}/restore`), { method: 'POST', json: { dry_run: false }, as: as.admin });
    expect(restore.status).toBe(202);
    expect(await awaitJob(ctx, `/api/v2/restores/${restore.body.id}`)).toMatchObject({ status: 'completed' });
    expect((await call(url(`/assets/${asset.id}`), { as: as.alice })).body).toMatchObject({ id: asset.id, tags: ['kept'] });

    const ago = (days: number) => new Date(Date.now() - days * 86_400_000);
    const old = { action: 'asset.update', outcome: '200', actor: 'retention-as-app' };
    await owner('audit_log').insert([
      { ...old, at: ago(400), request_id: 'past retention' },
      { ...old, at: ago(2), request_id: 'recent' },
    ]);
    const run = await call(url('/lifecycle/runs'), { method: 'POST', json: { dry_run: false }, as: as.admin });
    expect(run.status).toBe(202);
    expect(await awaitJob(ctx, `/api/v2/lifecycle/runs/${run.body.id}`)).toMatchObject({ status: 'completed' });
    expect((await audit({ actor: 'retention-as-app' })).map((r) => r.request_id)).toEqual(['recent']);

    const trail = await waitUntil('the trail of the asset', async () => {
      const rows = await audit({ subject: asset.id });
      const actions = new Set(rows.map((r) => `${r.action} ${r.outcome}`));
      return (
        ['asset.upload', 'upload.commit', 'asset.update', 'asset.read', 'asset.purge', 'restore.asset'].every((a) =>
          [...actions].some((x) => x.startsWith(a)),
        ) && actions
      );
    });
    expect([...trail]).toEqual(
      expect.arrayContaining(['upload.commit completed', 'asset.update 200', 'asset.read 404', 'asset.purge completed', 'restore.asset completed']),
    );
  }, 180_000);
});

describe('what the application role cannot do to the audit log', () => {
  it.each([
    ['delete rows', 'DELETE FROM audit_log', /permission denied for table audit_log/],
    [
      'delete rows, with the retention’s flag set by hand',
      "SET LOCAL storage.audit_pruning = 'on'; DELETE FROM audit_log",
      /permission denied for table audit_log/,
    ],
    ['truncate it', 'TRUNCATE audit_log', /permission denied for table audit_log/],
    ['rewrite a row', "UPDATE audit_log SET outcome = '200'", /permission denied for table audit_log/],
    ['turn its triggers off', 'ALTER TABLE audit_log DISABLE TRIGGER ALL', /must be owner of table audit_log/],
    ['drop a trigger', 'DROP TRIGGER audit_log_kept ON audit_log', /must be owner of (table|relation) audit_log/],
    ['skip every trigger', 'SET session_replication_role = replica', /permission denied to set parameter/],
    ['shorten the retention', 'UPDATE audit_retention SET days = 1', /permission denied for table audit_retention/],
    [
      'replace the retention function',
      'CREATE OR REPLACE FUNCTION storage_prune_audit_log(integer) RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$',
      /must be owner of function|permission denied for schema/,
    ],
    ['become the owner', `SET ROLE ${pg.escapeIdentifier(new URL(process.env.STORAGE_DATABASE_URL!).username || 'postgres')}`, /permission denied to set role/],
  ])('cannot %s', async (_what, sql, refusal) => {
    const before = Number((await owner('audit_log').count({ n: '*' }))[0].n);
    await expect(ctx.db.transaction((trx) => trx.raw(sql))).rejects.toThrow(refusal);
    expect(Number((await owner('audit_log').count({ n: '*' }))[0].n)).toBe(before);
  });

  it('folds refusals into a row whose count only grows, and prunes only what is past retention', async () => {
    const entry = { actor: { sub: 'mallory', roles: [] }, action: 'asset.read', outcome: '404', requestId: 'fold-1' };
    const key = `fold-as-app-${suffix}`;
    await foldRefusals(ctx.db, key, entry, 1, ['fold-1']);
    await foldRefusals(ctx.db, key, { ...entry, requestId: 'fold-2' }, 2, ['fold-2', 'fold-3']);
    expect(await owner('audit_log').where({ fold_key: key }).first('count', 'request_ids')).toEqual({ count: 3, request_ids: ['fold-1', 'fold-2', 'fold-3'] });
    await expect(ctx.db('audit_log').where({ fold_key: key }).update({ count: 1 })).rejects.toThrow(/append-only/);

    const ago = (days: number) => new Date(Date.now() - days * 86_400_000);
    await ctx.db('audit_log').insert([
      { action: 'asset.update', outcome: '200', actor: 'prune-as-app', at: ago(500), request_id: 'past' },
      { action: 'asset.update', outcome: '200', actor: 'prune-as-app', at: ago(3), request_id: 'kept' },
    ]);
    await ctx.db.raw('SELECT storage_prune_audit_log(10000)');
    expect(await owner('audit_log').where({ actor: 'prune-as-app' }).pluck('request_id')).toEqual(['kept']);
  });
});

describe('production’s check of the database role', () => {
  it('refuses a superuser, a member of the tables’ owner and a role that may create roles, on every connection', async () => {
    const loginAs = (role: string) => withUserOf(ctx.config.database.url, `postgresql://${role}@x/`);
    for (const [login, refusal] of [
      [ownerUrl, /the database role "\w+" is a superuser/],
      [loginAs(OWNER_MEMBER), new RegExp(`the database role "${OWNER_MEMBER}" is a member of "\\w+", which (is a superuser|owns the audit log)`)],
      [loginAs(ROLE_MAKER), new RegExp(`the database role "${ROLE_MAKER}" may create roles`)],
    ] as const) {
      const db = createServiceDb({ ...ctx.config.database, url: login, refusePrivilegedRole: true });
      try {
        await expect(db.raw('SELECT 1')).rejects.toThrow(refusal);
      } finally {
        await db.destroy();
      }
      const allowed = createServiceDb({ ...ctx.config.database, url: login, refusePrivilegedRole: false });
      try {
        expect((await allowed.raw('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      } finally {
        await allowed.destroy();
      }
    }
    // The service's own login passes, on each new connection.
    const service = createServiceDb({ ...ctx.config.database, poolMax: 2, refusePrivilegedRole: true });
    try {
      expect(await Promise.all([0, 1].map(() => service.transaction(async (trx) => (await trx.raw('SELECT session_user AS login')).rows[0].login)))).toEqual([
        LOGIN,
        LOGIN,
      ]);
    } finally {
      await service.destroy();
    }
  });

  it('stops the API and the worker at start (exit 78) as a superuser; STORAGE_DATABASE_ALLOW_PRIVILEGED_ROLE=true lets them', async () => {
    const [refusedPort, allowedPort] = await freePorts(2);
    const production = { STORAGE_ENVIRONMENT: 'production', STORAGE_DATABASE_URL: ownerUrl };
    const exits = (p: ServiceProcess) => new Promise<number | null>((resolve) => p.child.once('exit', (code) => resolve(code)));
    const api = spawnService('api/server.ts', envFor(ctx.config, { ...production, STORAGE_PORT: String(refusedPort) }));
    const worker = spawnService('worker/main.ts', envFor(ctx.config, production));
    started.push(api, worker);
    expect(await Promise.all([exits(api), exits(worker)])).toEqual([78, 78]);
    for (const p of [api, worker]) expect(p.output()).toMatch(/is a superuser.*STORAGE_DATABASE_ALLOW_PRIVILEGED_ROLE/s);

    const allowed = spawnService(
      'api/server.ts',
      envFor(ctx.config, { ...production, STORAGE_PORT: String(allowedPort), STORAGE_DATABASE_ALLOW_PRIVILEGED_ROLE: 'true' }),
    );
    started.push(allowed);
    await waitUntil(
      'the allowed API to be ready',
      async () => {
        if (allowed.child.exitCode !== null) throw new Error(`the API exited:\n${allowed.output()}`);
        const res = await fetch(`http://127.0.0.1:${allowedPort}/health/ready`).catch(() => undefined);
        return res?.status === 200;
      },
      60_000,
    );
  }, 120_000);
});
