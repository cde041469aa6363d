/** A row of `upload_sessions`, whose store is lib/uploads/store.ts (its invariants are stated there). */
import type { UploadKind, UploadStatus } from '../../workflows/uploads/definitions';
import type { ActorRef } from '../auth/actor';

export interface UploadSessionRow {
  id: string;
  kind: UploadKind;
  status: Exclude<UploadStatus, 'pending'>;
  asset_id: string | null;
  name: string;
  content_type: string;
  size_bytes: number;
  checksum_sha256: string | null;
  part_size_bytes: number | null;
  part_count: number | null;
  metadata: Record<string, string> | null;
  tags: string[] | null;
  object_key: string;
  s3_upload_id: string | null;
  result_asset_id: string;
  version_id: string;
  /** Set when completed: the number the version got. */
  version_number: number | null;
  workflow_id: string;
  /** Whom the session is for (UploadTarget.ownerId); null for sessions opened before owners existed. */
  owner_id: string | null;
  /** Bytes held for the session while it is open or completing (lib/quotas/), charged to `quota_owner_id`. */
  reserved_bytes: number;
  /** Whose quota the session counts against: the owner of the asset it makes or adds a version to. */
  quota_owner_id: string | null;
  /** Whom its run acts for; null for sessions opened before sessions recorded it. */
  actor: ActorRef | null;
  /** Why its opener may write the asset a new version joins (UploadTarget.writeBasis); null for a new asset. */
  write_basis: string | null;
  error: string | null;
  expires_at: Date;
  /** When its client last showed it was still sending (lib/uploads/store.ts touchSessionProgress). */
  last_progress_at: Date;
  created_at: Date;
  updated_at: Date;
}

/** Whether a session ended without a version: its row says so, or is gone (a simple upload's goes with its discard). */
export function endedWithoutCommit(session: Pick<UploadSessionRow, 'status'> | undefined): boolean {
  return !session || session.status === 'aborted' || session.status === 'expired' || session.status === 'failed';
}

/** Who uploads the session's version (its `uploaded_by`): the sub its run acts for, else its owner; null when it recorded neither. */
export function uploaderOf(session: Pick<UploadSessionRow, 'actor' | 'owner_id'>): string | null {
  return session.actor?.sub ?? session.owner_id ?? null;
}
