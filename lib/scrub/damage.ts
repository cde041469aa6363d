/** What a damaged version means to its readers: its content routes answer version-damaged (409), never wrong bytes. */
import type { Knex } from 'knex';
import { VersionDamagedError } from '../platform/errors';
import { damageAtKey } from './store';

export async function refuseDamaged(db: Knex, objectKey: string): Promise<void> {
  const damaged = await damageAtKey(db, objectKey);
  if (!damaged) return;
  throw new VersionDamagedError(
    `version ${damaged.id} of asset ${damaged.asset_id} is damaged (${damaged.damage ?? 'its bytes are not what its SHA-256 says'}): ` +
      'restore the asset from a backup that holds it (POST /api/v2/backups/{id}/restore) or upload it again',
    { asset_id: damaged.asset_id, version_id: damaged.id, damaged_at: damaged.damaged_at.toISOString() },
  );
}
