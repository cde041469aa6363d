/**
 * The store of upload sessions: the only code that runs SQL against upload_sessions, upload_parts, upload_stream_hashes and tus_uploads.
 */
export {};

// ---- used by assets (moved from lib/assets/versions.ts and activities/assets.ts) ----

/** The completed session that made `versionId` (lib/assets/versions.ts committedVersion). */
export async function findCompletedSessionOfVersion(db: import('knex').Knex, uploadId: string, versionId: string) {
  return db('upload_sessions').where({ id: uploadId, version_id: versionId, status: 'completed' }).first();
}

/** The asset's unfinished sessions of new versions, by id, `limit` of them. */
export async function unfinishedSessionsOfAsset(db: import('knex').Knex, assetId: string, limit: number) {
  return db('upload_sessions').where({ asset_id: assetId }).whereIn('status', ['open', 'completing']).orderBy('id').limit(limit);
}

export async function markSessionAborted(db: import('knex').Knex, uploadId: string, error: string): Promise<void> {
  await db('upload_sessions').where({ id: uploadId }).update({ status: 'aborted', error });
}

/** Deletes the sessions whose result is the asset (the one that created it names it only so). */
export async function deleteSessionsResultingIn(trx: import('knex').Knex.Transaction, assetId: string): Promise<void> {
  await trx('upload_sessions').where({ result_asset_id: assetId }).delete();
}
