import type { Knex } from 'knex';

/**
 * Issue 27. Policies and quota overrides get a `revision`, as assets have one: their ETag (`"p<n>"`,
 * `"q<n>"`), which If-Match compares in the transaction of the change. A policy's moves by one with
 * each change of it (a PUT, a PATCH, its delete). A quota override's row is deleted when both its
 * limits go back to the defaults, so its revision comes from a sequence: a row made again never
 * repeats a revision an earlier one of the same owner had (an owner without a row is `"q0"`).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE lifecycle_policies ADD COLUMN revision integer NOT NULL DEFAULT 1 CHECK (revision >= 1);
    CREATE SEQUENCE owner_quotas_revision_seq;
    ALTER TABLE owner_quotas ADD COLUMN revision bigint NOT NULL DEFAULT nextval('owner_quotas_revision_seq');
    ALTER SEQUENCE owner_quotas_revision_seq OWNED BY owner_quotas.revision;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE owner_quotas DROP COLUMN IF EXISTS revision;
    DROP SEQUENCE IF EXISTS owner_quotas_revision_seq;
    ALTER TABLE lifecycle_policies DROP COLUMN IF EXISTS revision;
  `);
}
