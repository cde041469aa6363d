/**
 * Reserving an upload's bytes where its size is not known in advance (a simple upload, a fetch): as
 * the stream grows, before its bytes are stored (lib/platform/staging.ts asks before every write to
 * the store) and again whenever it outgrows the room the last reservation left, so a stream is
 * stopped as soon as it passes the quota. The commit turns the reservation into stored bytes.
 */
import type { Knex } from 'knex';
import { ConflictError } from '../platform/errors';
import { ensureWithinQuota, type QuotaDefaults } from './quotas';
import { growSessionReservation } from '../uploads/store';

/**
 * Grows the session's reservation to `totalBytes` (a stream tried again asks for what it already
 * holds, and adds nothing), or refuses (QuotaExceededError) and leaves it as it was.
 */
export async function reserveUploadBytes(db: Knex, defaults: QuotaDefaults, uploadId: string, totalBytes: number): Promise<{ roomBytes: number }> {
  return db.transaction(async (trx) => {
    const row = await growSessionReservation(trx, uploadId, totalBytes);
    if (!row) throw new ConflictError(`upload ${uploadId} is no longer open`);
    const added = Math.max(0, totalBytes - Number(row.reserved_before));
    // A session opened before quotas charges no one until it commits.
    if (row.quota_owner_id === null) return { roomBytes: Infinity };
    return ensureWithinQuota(trx, defaults, row.quota_owner_id, { bytes: added, assets: 0 });
  });
}

/** A stream's reservation, grown in order however many writers ask at once. */
export class StreamReservation {
  private reserved = 0;
  private room = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly reserveUpTo: (totalBytes: number) => Promise<{ roomBytes: number }>) {}

  /** Whether `total` bytes fit in what is reserved and the room the last reservation left (a hint: others share that room). */
  fits(total: number): boolean {
    return total <= this.reserved + this.room;
  }

  /** Makes sure `total` bytes are reserved; a refusal fails this call and every later one. */
  cover(total: number): Promise<void> {
    this.queue = this.queue.then(async () => {
      if (total <= this.reserved) return;
      const { roomBytes } = await this.reserveUpTo(total);
      this.reserved = total;
      this.room = roomBytes;
    });
    return this.queue;
  }
}
