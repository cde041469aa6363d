/**
 * Prepares what the service expects to find: the database (created when missing) with every
 * migration applied and the audit log's retention, both buckets, and the Temporal search attributes. Idempotent; `npm start` runs
 * it, and so does the `setup` service of docker-compose.yml (`node dist/scripts/setup.js`).
 */
import { Connection } from '@temporalio/client';
import { loadConfigOrExit, type Config } from '../lib/platform/config';
import { createDb, ensureDatabase, migrateLatest, redactUrl } from '../lib/platform/db';
import { createS3Client, ensureBucket } from '../lib/platform/s3Client';
import { ensureSearchAttributes } from '../lib/platform/temporal';

export async function setUp(config: Config, say: (line: string) => void): Promise<void> {
  // As the role that owns the tables: the service's own may not create them, nor set the retention.
  const url = config.database.migrationUrl;
  const { created } = await ensureDatabase(url);
  const db = createDb(url, 2);
  try {
    const applied = await migrateLatest(db);
    await db('audit_retention').update({ days: config.audit.retentionDays });
    say(`database ${redactUrl(url)}${created ? ' created' : ''}; ${applied.length} migration(s) applied; audit rows kept ${config.audit.retentionDays} days`);
  } finally {
    await db.destroy();
  }

  const s3 = createS3Client(config.s3);
  try {
    await ensureBucket(s3, config.s3.bucket);
    await ensureBucket(s3, config.s3.backupBucket);
    say(`buckets ${config.s3.bucket} and ${config.s3.backupBucket} ready`);
  } finally {
    s3.destroy();
  }

  const connection = await Connection.connect({ address: config.temporal.address });
  try {
    const added = await ensureSearchAttributes(connection, config.temporal.namespace);
    say(`Temporal search attributes ${added.length ? `registered: ${added.join(', ')}` : 'present'}`);
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  setUp(loadConfigOrExit(), (line) => process.stdout.write(`[setup] ${line}\n`)).catch((err) => {
    process.stderr.write(`[setup] failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
