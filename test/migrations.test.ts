import { createDb, dropDatabase, ensureDatabase, migrateLatest, migrationConfig, type Db } from '../lib/platform/db';
import { uuidv7 } from '../lib/platform/ids';
import { APP_ROLE, createAppRole } from '../migrations/20261206000013_audit_kept_and_app_role';
import { waitUntil } from './support/processes';

const TABLES = [
  'assets',
  'asset_versions',
  'asset_metadata',
  'asset_grants',
  'lifecycle_policies',
  'policy_rules',
  'lifecycle_runs',
  'lifecycle_run_items',
  'backup_jobs',
  'backup_handoffs',
  'restore_items',
  'backup_sweep_manifests',
  'backup_sweep_marks',
  'backup_retention_sweeps',
  'upload_sessions',
  'upload_parts',
  'tus_uploads',
  'upload_stream_hashes',
  'outbox_events',
  'owner_usage',
  'owner_quotas',
  'audit_log',
  'audit_retention',
  'idempotency_keys',
  'backup_blob_checks',
  'restore_drills',
  'scrubs',
  'scrub_findings',
];

async function tables(db: Db): Promise<string[]> {
  const rows = await db('information_schema.tables')
    .where({ table_schema: 'public', table_type: 'BASE TABLE' })
    .whereNot('table_name', 'like', 'knex_%')
    .pluck('table_name');
  return rows.sort();
}

/** Every grant to the service's role in this database: on relations, functions and by default. */
async function privilegesOfAppRole(db: Db): Promise<string[]> {
  const { rows } = await db.raw(
    `SELECT c.relname || ' ' || a.privilege_type AS grant FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = ?::regrole
     UNION ALL SELECT p.proname || ' ' || a.privilege_type FROM pg_proc p, aclexplode(p.proacl) a WHERE a.grantee = ?::regrole
     UNION ALL SELECT 'default ' || d.defaclobjtype::text || ' ' || a.privilege_type FROM pg_default_acl d, aclexplode(d.defaclacl) a WHERE a.grantee = ?::regrole`,
    [APP_ROLE, APP_ROLE, APP_ROLE],
  );
  return rows.map((r: { grant: string }) => r.grant).sort();
}

describe('migrations', () => {
  const url = new URL(process.env.STORAGE_DATABASE_URL!);
  url.pathname = `${url.pathname}_migrations`;
  let db: Db;

  beforeAll(async () => {
    await ensureDatabase(url.toString());
    db = createDb(url.toString(), 1);
  });
  afterAll(async () => {
    await db.destroy();
    await dropDatabase(url.toString());
  });

  it('go up, down and up again cleanly', async () => {
    await migrateLatest(db);
    expect(await tables(db)).toEqual([...TABLES].sort());

    await db.migrate.rollback(migrationConfig(), true);
    expect(await tables(db)).toEqual([]);
    const functions = await db('pg_proc').where('proname', 'like', 'storage_%').pluck('proname');
    expect(functions).toEqual([]);

    // The role is the cluster's and stays; what this database granted it goes with the tables.
    expect(await privilegesOfAppRole(db)).toEqual([]);

    await migrateLatest(db);
    expect(await tables(db)).toEqual([...TABLES].sort());
  });

  it('enforce one number per version of an asset and one live policy per name', async () => {
    const assetId = '01900000-0000-7000-8000-000000000001';
    await db('assets').insert({ id: assetId, name: 'map.png', content_type: 'image/png' });
    const version = { asset_id: assetId, version_number: 1, size_bytes: 1, content_type: 'image/png', checksum_sha256: 'a'.repeat(64) };
    await db('asset_versions').insert({ ...version, id: '01900000-0000-7000-8000-000000000002', object_key: 'k1' });
    await expect(db('asset_versions').insert({ ...version, id: '01900000-0000-7000-8000-000000000003', object_key: 'k2' })).rejects.toThrow(
      /asset_versions_asset_id_version_number_unique|duplicate key/,
    );

    await db('lifecycle_policies').insert({ id: '01900000-0000-7000-8000-000000000004', name: 'tidy' });
    await expect(db('lifecycle_policies').insert({ id: '01900000-0000-7000-8000-000000000005', name: 'tidy' })).rejects.toThrow(/duplicate key/);
    await db('lifecycle_policies').where({ name: 'tidy' }).update({ is_deleted: true, deleted_at: db.fn.now() });
    await db('lifecycle_policies').insert({ id: '01900000-0000-7000-8000-000000000006', name: 'tidy' });

    // Deleting an asset removes its versions and metadata with it.
    await db('asset_metadata').insert({ asset_id: assetId, key: 'campaign', value: 'Rime' });
    await db('assets').where({ id: assetId }).delete();
    expect(await db('asset_versions').where({ asset_id: assetId }).count({ n: '*' })).toEqual([{ n: 0 }]);
    expect(await db('asset_metadata').where({ asset_id: assetId }).count({ n: '*' })).toEqual([{ n: 0 }]);
  });

  it("041 fills each version's uploaded_by from the session that made it: its actor's sub, else its owner; NULL with no session", async () => {
    const migration = { ...migrationConfig(), name: '20261208000041_version_uploaders.ts' };
    await db.migrate.down(migration);
    expect(await db('information_schema.columns').where({ table_name: 'asset_versions', column_name: 'uploaded_by' }).first()).toBeUndefined();

    const assetId = '01900000-0000-7000-8000-000000000041';
    await db('assets').insert({ id: assetId, name: 'map.png', content_type: 'image/png' });
    const session = (id: string, fields: Record<string, unknown>) => ({
      id,
      kind: 'simple',
      status: 'completed',
      name: 'map.png',
      content_type: 'image/png',
      size_bytes: 1,
      object_key: `k-${id}`,
      workflow_id: `upload-${id}`,
      ...fields,
    });
    const [byActor, byOwner, gone] = [uuidv7(), uuidv7(), uuidv7()];
    await db('upload_sessions').insert([
      session(byActor, { owner_id: 'alice', actor: JSON.stringify({ sub: 'bob', roles: [] }) }),
      session(byOwner, { owner_id: 'alice', actor: null }),
    ]);
    const version = (n: number, uploadId: string | null) => ({
      id: uuidv7(),
      asset_id: assetId,
      version_number: n,
      object_key: `v${n}`,
      size_bytes: 1,
      content_type: 'image/png',
      checksum_sha256: 'a'.repeat(64),
      upload_id: uploadId,
    });
    const versions = [version(1, byActor), version(2, byOwner), version(3, gone), version(4, null)];
    await db('asset_versions').insert(versions);

    await db.migrate.up(migration);
    const uploaders = await db('asset_versions').where({ asset_id: assetId }).orderBy('version_number').pluck('uploaded_by');
    expect(uploaders).toEqual(['bob', 'alice', null, null]);
    await db('assets').where({ id: assetId }).delete();
    await db('upload_sessions').whereIn('id', [byActor, byOwner]).delete();
  });

  it('grant the service’s role the catalog’s rows, and on the audit log only reading, adding and folding', async () => {
    const has = async (sql: string, ...args: string[]) => (await db.raw(`SELECT ${sql} AS ok`, args)).rows[0].ok as boolean;
    for (const table of TABLES.filter((t) => t !== 'audit_log' && t !== 'audit_retention')) {
      for (const privilege of ['SELECT', 'INSERT', 'UPDATE', 'DELETE'])
        expect([table, privilege, await has('has_table_privilege(?, ?, ?)', APP_ROLE, table, privilege)]).toEqual([table, privilege, true]);
      for (const privilege of ['TRUNCATE', 'TRIGGER', 'REFERENCES'])
        expect([table, privilege, await has('has_table_privilege(?, ?, ?)', APP_ROLE, table, privilege)]).toEqual([table, privilege, false]);
    }
    const auditLog = await Promise.all(
      ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER'].map((p) => has('has_table_privilege(?, ?, ?)', APP_ROLE, 'audit_log', p)),
    );
    expect(auditLog).toEqual([true, true, false, false, false, false]);
    const folding = await Promise.all(
      ['count', 'request_ids', 'outcome', 'actor'].map((c) => has(`has_column_privilege(?, 'audit_log', ?, 'UPDATE')`, APP_ROLE, c)),
    );
    expect(folding).toEqual([true, true, false, false]);
    for (const table of ['audit_retention', 'knex_migrations', 'knex_migrations_lock']) {
      expect([table, await has(`has_table_privilege(?, ?, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE')`, APP_ROLE, table)]).toEqual([table, false]);
    }
    expect(await has(`has_function_privilege(?, 'storage_prune_audit_log(integer)', 'EXECUTE')`, APP_ROLE)).toBe(true);
    expect(await has(`has_function_privilege('public', 'storage_prune_audit_log(integer)', 'EXECUTE')`)).toBe(false);
    const sequences = await db('pg_class')
      .where({ relkind: 'S', relnamespace: db.raw(`'public'::regnamespace`) })
      .pluck('relname');
    for (const sequence of sequences) expect([sequence, await has(`has_sequence_privilege(?, ?, 'USAGE')`, APP_ROLE, sequence)]).toEqual([sequence, true]);
    expect(
      await db('pg_class')
        .where({ relowner: db.raw('?::regrole', [APP_ROLE]) })
        .count({ n: '*' }),
    ).toEqual([{ n: 0 }]);

    // A table a later migration makes is the role's to use as well.
    await db.raw('CREATE TABLE later_table (id integer)');
    try {
      expect(await has(`has_table_privilege(?, 'later_table', 'DELETE')`, APP_ROLE)).toBe(true);
    } finally {
      await db.raw('DROP TABLE later_table');
    }
  });

  it('make the service’s role without an attribute that could alter the audit log, once, while another migration makes it too', async () => {
    const { rows } = await db.raw('SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication FROM pg_roles WHERE rolname = ?', [APP_ROLE]);
    expect(rows).toEqual([{ rolsuper: false, rolbypassrls: false, rolcreaterole: false, rolcreatedb: false, rolreplication: false }]);

    // Two migrations at once: the second's CREATE ROLE waits on the first's, which then commits.
    const role = `storage_app_race_${uuidv7().slice(-12)}`;
    const other = createDb(url.toString(), 1);
    try {
      let secondPid: number | undefined;
      let second: Promise<void> | undefined;
      await db.transaction(async (first) => {
        await createAppRole(first, role);
        second = other.transaction(async (trx) => {
          secondPid = (await trx.raw('SELECT pg_backend_pid() AS pid')).rows[0].pid;
          await createAppRole(trx, role);
        });
        await waitUntil('the second migration to wait on the first', async () => {
          if (secondPid === undefined) return false;
          const { rows: waiting } = await first.raw('SELECT wait_event_type FROM pg_stat_activity WHERE pid = ?', [secondPid]);
          return waiting[0]?.wait_event_type === 'Lock';
        });
      });
      await second;
      expect(await db('pg_roles').where({ rolname: role }).count({ n: '*' })).toEqual([{ n: 1 }]);
      await createAppRole(db, role);
    } finally {
      await other.destroy();
      await db.raw(`DROP ROLE IF EXISTS ${role}`);
    }
  });

  it('refuse a role of that name made with an attribute that could alter the audit log', async () => {
    const role = `storage_app_bypass_${uuidv7().slice(-12)}`;
    await db.raw(`CREATE ROLE ${role} NOLOGIN BYPASSRLS`);
    try {
      await expect(createAppRole(db, role)).rejects.toThrow(new RegExp(`${role} may bypass row security`));
    } finally {
      await db.raw(`DROP ROLE ${role}`);
    }
  });
});
