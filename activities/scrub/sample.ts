/**
 * The sample: a share of the versions (sample_percent of them, at least one) re-read and hashed, those
 * verified longest ago first (never verified first of all), so that every object is read within
 * ceil(100 / share) runs. A SHA-256 or size other than the catalog's is a checksum_mismatch.
 */
import { countVersions, markVersionVerified, versionsToVerify } from '../../lib/scrub/store';
import { hashWithin } from '../../lib/scrub/repair';
import { mapLimit } from '../../lib/platform/concurrency';
import type { ScrubVersion } from '../../lib/scrub/store';
import { onVersionFinding, overBudget, type Step } from './step';

/** Objects of the sample read at once. */
const SAMPLE_WIDTH = 4;

/** Hashes the sample from the cursor; true once its target is read (or no version is left to read). */
export async function scrubSample(step: Step): Promise<boolean> {
  const { db } = step.deps;
  if (step.cursor.target === undefined) {
    const total = await countVersions(db);
    step.cursor = { target: total === 0 ? 0 : Math.max(1, Math.ceil((total * step.row.sample_percent) / 100)), hashed: 0 };
  }
  const since = step.row.started_at ?? new Date();
  for (;;) {
    const hashed = step.cursor.hashed ?? 0;
    const left = step.cursor.target! - hashed;
    if (left <= 0) return true;
    const after = step.cursor.id ? { verifiedAt: step.cursor.verifiedAt ?? null, id: step.cursor.id } : null;
    const batch = await versionsToVerify(db, since, after, Math.min(step.pageSize, left));
    if (batch.length === 0) return true;
    // Hashed a few at a time (a small object costs a round trip more than its bytes); the budget is shared.
    await mapLimit(batch, SAMPLE_WIDTH, (v) => verifyOne(step, v));
    const last = batch[batch.length - 1];
    step.cursor = { ...step.cursor, verifiedAt: last.verified_at_text ?? null, id: last.id, hashed: hashed + batch.length };
    step.beat();
    if (overBudget(step)) return false;
  }
}

/** One version of the sample: its object hashed; verified, or a checksum_mismatch (a missing object is the listing pass's finding). */
async function verifyOne(step: Step, v: ScrubVersion): Promise<void> {
  if (v.claimed) return;
  const { db, config } = step.deps;
  const got = await hashWithin(step.reader, { bucket: config.s3.bucket, key: v.object_key });
  if (!got) return;
  if (got.sha256 === v.checksum_sha256 && got.sizeBytes === v.size_bytes) {
    if (!step.row.dry_run) await markVersionVerified(db, v.id);
    return;
  }
  const what = `its object ${v.object_key} hashes to ${got.sha256} (${got.sizeBytes} bytes), the catalog says ${v.checksum_sha256} (${v.size_bytes} bytes)`;
  await onVersionFinding(step, v, 'checksum_mismatch', what);
}
