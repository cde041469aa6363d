/**
 * The sample: a share of the versions (sample_percent of them, at least one) re-read and hashed, those
 * verified longest ago first (never verified first of all), so that every object is read within
 * ceil(100 / share) runs. A SHA-256 or size other than the catalog's is a checksum_mismatch.
 */
import { countVersions, markVersionVerified, versionsToVerify } from '../../lib/scrub/store';
import { hashWithin } from '../../lib/scrub/repair';
import { onVersionFinding, overBudget, type Step } from './step';

/** Hashes the sample from the cursor; true once its target is read (or no version is left to read). */
export async function scrubSample(step: Step): Promise<boolean> {
  const { db, config } = step.deps;
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
    for (const v of batch) {
      if (!v.claimed) {
        const got = await hashWithin(step.reader, { bucket: config.s3.bucket, key: v.object_key });
        if (got && got.sha256 === v.checksum_sha256 && got.sizeBytes === v.size_bytes) {
          if (!step.row.dry_run) await markVersionVerified(db, v.id);
        } else if (got) {
          const what = `its object ${v.object_key} hashes to ${got.sha256} (${got.sizeBytes} bytes), the catalog says ${v.checksum_sha256} (${v.size_bytes} bytes)`;
          await onVersionFinding(step, v, 'checksum_mismatch', what);
        }
        // A missing object is the listing pass's finding (missing_object), counted there once.
      }
      step.cursor = { ...step.cursor, verifiedAt: v.verified_at_text ?? null, id: v.id, hashed: (step.cursor.hashed ?? 0) + 1 };
    }
    step.beat();
    if (overBudget(step)) return false;
  }
}
