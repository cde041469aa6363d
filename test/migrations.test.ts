import { createDb, dropDatabase, ensureDatabase, migrateLatest, migrationConfig, type Db } from '../lib/platform/db';

const TABLES = [
  'assets',
  'asset_versions',
  'asset_metadata',
  'asset_grants',
  'lifecycle_policies',
  'policy_rules',
  'lifecycle_runs',
  'backup_jobs',
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
];

async function tables(db: Db): Promise<string[]> {
  const rows = await db('information_schema.tables')
    .where({ table_schema: 'public', table_type: 'BASE TABLE' })
    .whereNot('table_name', 'like', 'knex_%')
    .pluck('table_name');
  return rows.sort();
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
});
