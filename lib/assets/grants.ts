/**
 * An asset's grants: who besides its owner may read it, or also write it. A subject is a user
 * (`user:<sub>`) or a group of the token's groups claim (`group:<name>`).
 */
import type { Knex } from 'knex';
import type { Actor } from '../auth/actor';

export type GrantAccess = 'read' | 'write';

export interface Grant {
  subject: string;
  access: GrantAccess;
}

/** The subjects a grant may name to reach this actor. */
export function subjectsOf(actor: Actor): string[] {
  return [`user:${actor.sub}`, ...actor.groups.map((group) => `group:${group}`)];
}

/** An asset's grants as one JSON array, by subject, for a query over `assets as a`. */
export function grantsColumn(db: Knex | Knex.Transaction) {
  return db.raw(
    `COALESCE((SELECT jsonb_agg(jsonb_build_object('subject', g.subject, 'access', g.access) ORDER BY g.subject)
                 FROM asset_grants g WHERE g.asset_id = a.id), '[]'::jsonb) AS grants`,
  );
}

/** Sets the asset's grants to exactly `grants`, in the caller's transaction. */
export async function writeGrants(trx: Knex.Transaction, assetId: string, grants: Grant[]): Promise<void> {
  await trx('asset_grants').where({ asset_id: assetId }).delete();
  if (grants.length) await trx('asset_grants').insert(grants.map((g) => ({ asset_id: assetId, subject: g.subject, access: g.access })));
}
