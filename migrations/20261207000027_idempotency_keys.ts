import type { Knex } from 'knex';

/**
 * Issue 26: a request that creates or changes something may carry an Idempotency-Key
 * (api/middleware/idempotency.ts). Its caller's key is kept 24 hours with what identifies the request
 * (the fingerprint) and, once final, its answer; a retry is answered from it (lib/idempotency/store.ts).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE idempotency_keys (
      subject text NOT NULL,
      key text NOT NULL,
      fingerprint text NOT NULL,
      -- The attempt that holds the key (a new one per claim): only it records the key's upload or answer.
      attempt uuid NOT NULL,
      -- While an attempt runs; null once it answered, past it once its API is presumed gone.
      lease_until timestamptz,
      -- The upload the attempt opened: a retry answers its commit rather than uploading again.
      upload_id uuid,
      -- The final answer, all three set at once (status null: none yet).
      status integer,
      headers jsonb,
      body text,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (subject, key)
    );
    -- Retention: keys by age.
    CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS idempotency_keys');
}
