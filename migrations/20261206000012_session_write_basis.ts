import type { Knex } from 'knex';

/**
 * Why the opener of a new version's session may write its asset (issue 23): `any` (a service or an
 * admin), `owner:<sub>`, or the subject of the write grant they held (`user:<sub>`, `group:<name>`).
 * The run knows nothing of its actor's groups, so the commit checks this basis again, under the asset's
 * row lock: a grant revoked or downgraded meanwhile refuses it. NULL for a new asset's session, and for
 * sessions opened before sessions recorded it (lib/uploads/sessionAccess.ts says how those are judged).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE upload_sessions ADD COLUMN write_basis text');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE upload_sessions DROP COLUMN write_basis');
}
