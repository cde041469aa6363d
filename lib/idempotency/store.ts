/**
 * The store of idempotency keys: the only code that runs SQL against idempotency_keys
 * (api/middleware/idempotency.ts is its one user, lib/lifecycle/tableRetention.ts its retention).
 *
 * Invariants:
 * - One row per (subject, key): a caller's key is theirs alone, another caller's same key is another row.
 * - A key lives KEY_LIFETIME_HOURS from its claim (`created_at`): past that it is as if it had never
 *   been sent (claimKey claims it anew), and retention deletes it.
 * - `fingerprint` is set at the claim and never changes while the key lives.
 * - `attempt` names the request that holds the key: a new one at each claim and each take-over. The
 *   upload, the answer, the release and the lease's renewals are written only by that attempt
 *   (WHERE attempt = ?), so an attempt whose key was taken over (its lease passed) changes nothing.
 * - `lease_until` is short (the middleware's KEY_LEASE_SECONDS) and the attempt that holds the key
 *   renews it while its request runs (renewKeyLease): a lease that passed means its attempt is gone
 *   (its API died, or cannot reach the database), and a retry may take the key over. A released key
 *   (its lease null) or one with a final answer is never renewed.
 * - `status`, `headers` and `body` are set together and once (the final answer); a key with a final
 *   answer is never taken over.
 * - `upload_id`, set by the attempt as its upload opens, is kept when the attempt is released (its
 *   answer was not final): a retry answers that upload's commit if it was reached. A take-over keeps it
 *   (its taker ends that upload first, and answers its commit if a late `complete` made one) until the
 *   new attempt records its own; and only a key whose `upload_id` is still the one its taker saw is
 *   taken over (so that an upload a later attempt recorded, which may have reached its commit, is never forgotten).
 *
 * Lock order: every statement reads or writes one key's row alone, in a transaction of its own,
 * and no other table: it takes no lock before or after any other family's.
 */
import type { Knex } from 'knex';

export const KEY_LIFETIME_HOURS = 24;

export interface IdempotencyKeyRow {
  subject: string;
  key: string;
  fingerprint: string;
  attempt: string;
  lease_until: Date | null;
  upload_id: string | null;
  status: number | null;
  headers: Record<string, string> | null;
  body: string | null;
  created_at: Date;
}

/** The answer kept for a key. */
export interface StoredAnswer {
  status: number;
  headers: Record<string, string>;
  body: string | null;
}

export interface KeyClaim {
  subject: string;
  key: string;
  fingerprint: string;
  attempt: string;
  leaseSeconds: number;
}

const LIVE = `created_at >= now() - interval '${KEY_LIFETIME_HOURS} hours'`;

/**
 * Claims the key for `claim.attempt`: a new key, or one past its lifetime (claimed anew, as if
 * never sent). Answers whether it was claimed, and the key's row either way.
 */
export async function claimKey(db: Knex, claim: KeyClaim): Promise<{ claimed: boolean; row: IdempotencyKeyRow | undefined }> {
  const inserted = await db.raw(
    `INSERT INTO idempotency_keys AS k (subject, key, fingerprint, attempt, lease_until)
     VALUES (?, ?, ?, ?, now() + make_interval(secs => ?))
     ON CONFLICT (subject, key) DO UPDATE
       SET fingerprint = EXCLUDED.fingerprint, attempt = EXCLUDED.attempt, lease_until = EXCLUDED.lease_until,
           upload_id = NULL, status = NULL, headers = NULL, body = NULL, created_at = now()
       WHERE NOT (k.${LIVE})
     RETURNING *`,
    [claim.subject, claim.key, claim.fingerprint, claim.attempt, claim.leaseSeconds],
  );
  if (inserted.rows.length > 0) return { claimed: true, row: inserted.rows[0] };
  const row = await db('idempotency_keys').where({ subject: claim.subject, key: claim.key }).first();
  return { claimed: false, row };
}

/**
 * Takes the key over for `claim.attempt` when no attempt holds it (released, or its lease past), it
 * has no final answer, and its upload is still `seenUpload` (the one the taker found had not reached,
 * or ended without, its commit; null for none). Answers whether it was taken.
 */
export async function takeOverKey(db: Knex, claim: KeyClaim, seenUpload: string | null): Promise<boolean> {
  const taken = await db('idempotency_keys')
    .where({ subject: claim.subject, key: claim.key, fingerprint: claim.fingerprint })
    .whereNull('status')
    .whereRaw('upload_id IS NOT DISTINCT FROM ?::uuid', [seenUpload])
    .whereRaw(`(lease_until IS NULL OR lease_until < now()) AND ${LIVE}`)
    .update({ attempt: claim.attempt, lease_until: db.raw('now() + make_interval(secs => ?)', [claim.leaseSeconds]) });
  return taken > 0;
}

/** Records the upload the attempt opened. */
export async function recordKeyUpload(db: Knex, subject: string, key: string, attempt: string, uploadId: string): Promise<void> {
  await db('idempotency_keys').where({ subject, key, attempt }).update({ upload_id: uploadId });
}

/**
 * Renews the lease of the attempt that holds the key, while its request runs; answers false when it
 * no longer holds it (taken over after its lease passed, released, or answered).
 */
export async function renewKeyLease(db: Knex, subject: string, key: string, attempt: string, leaseSeconds: number): Promise<boolean> {
  const renewed = await db('idempotency_keys')
    .where({ subject, key, attempt })
    .whereNull('status')
    .whereNotNull('lease_until')
    .update({ lease_until: db.raw('now() + make_interval(secs => ?)', [leaseSeconds]) });
  return renewed > 0;
}

/** Keeps the attempt's answer as the key's final one. */
export async function recordKeyAnswer(db: Knex, subject: string, key: string, attempt: string, answer: StoredAnswer): Promise<void> {
  await db('idempotency_keys')
    .where({ subject, key, attempt })
    .update({ status: answer.status, headers: JSON.stringify(answer.headers), body: answer.body, lease_until: null });
}

/** The attempt answered without a final answer: a retry may run again (or answer its upload). */
export async function releaseKey(db: Knex, subject: string, key: string, attempt: string): Promise<void> {
  await db('idempotency_keys').where({ subject, key, attempt }).whereNull('status').update({ lease_until: null });
}

// ---- used by table retention (lib/lifecycle/tableRetention.ts) ----

/** Deletes up to `limit` keys claimed before `before`, oldest first; answers how many. */
export async function deleteKeysClaimedBefore(db: Knex, before: Date, limit: number): Promise<number> {
  return db('idempotency_keys')
    .whereIn(['subject', 'key'], db('idempotency_keys').select('subject', 'key').where('created_at', '<', before).orderBy('created_at').limit(limit))
    .delete();
}
