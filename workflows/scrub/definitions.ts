/**
 * The contract of the scrub workflow: its input, phases, cursor, counts and failure types. Only
 * @temporalio/workflow is imported (and types), so the workflow bundle, the activities and the API all
 * use this file.
 */
import { defineQuery } from '@temporalio/workflow';
import type { ActsFor } from '../shared/actor';

export type ScrubStatus = 'pending' | 'running' | 'completed' | 'failed';

/**
 * The passes of a scrub, in order: the asset bucket merged with the catalog (orphans, missing objects),
 * incomplete multipart uploads, the sample of versions re-hashed, the backup bucket's blobs hashed, the
 * retained manifests' blobs looked up.
 */
export const SCRUB_PHASES = ['objects', 'multipart', 'sample', 'blobs', 'manifests', 'done'] as const;
export type ScrubPhase = (typeof SCRUB_PHASES)[number];

export const FINDING_KINDS = [
  'orphan_object',
  'missing_object',
  'incomplete_multipart',
  'checksum_mismatch',
  'backup_blob_damaged',
  'backup_blob_missing',
  // A retained backup whose manifest is gone or cannot be read: its blobs cannot be looked up (subject: the backup id).
  'backup_manifest_unreadable',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export type FindingCounts = Record<FindingKind, number>;

export const NO_FINDINGS: FindingCounts = {
  orphan_object: 0,
  missing_object: 0,
  incomplete_multipart: 0,
  checksum_mismatch: 0,
  backup_blob_damaged: 0,
  backup_blob_missing: 0,
  backup_manifest_unreadable: 0,
};

/** What a scrub has done so far: its row's figures, carried by the run and saved after each step. */
export interface ScrubTally {
  counts: FindingCounts;
  repaired: number;
  unrepairable: number;
  bytes_hashed: number;
  objects_listed: number;
}

export const EMPTY_TALLY: ScrubTally = { counts: NO_FINDINGS, repaired: 0, unrepairable: 0, bytes_hashed: 0, objects_listed: 0 };

/**
 * Where a phase is. `key`: the last object key (objects, blobs phases) done; `verifiedAt`/`id`: the
 * sample's keyset position; `hashed`: versions of the sample read so far; `backupId`/`offset`: the
 * manifest and byte offset the manifests phase has come to.
 */
export interface ScrubCursor {
  key?: string;
  verifiedAt?: string | null;
  id?: string;
  hashed?: number;
  target?: number;
  backupId?: string;
  offset?: number;
  /** The multipart listing's upload-id marker (beside `key`, its key marker). */
  uploadId?: string;
  /** Where this run's share of the backup blobs begins (0..100): it moves by the share each run. */
  rotation?: number;
}

/** Knobs with production defaults; tests make steps tiny to watch a scrub resume. */
export interface ScrubTuning {
  /** An activity call returns after about this long, so progress reaches the workflow (default 10 s). */
  stepBudgetMs?: number;
  /** Keys listed (and rows read) per page (default 1000). */
  pageSize?: number;
  /** Continue as new once the history has this many events (default 2000). */
  historyLimit?: number;
}

export interface ScrubInput extends ActsFor {
  scrubId: string;
  tuning?: ScrubTuning;
  /** Carried across continue-as-new. */
  resume?: { phase: ScrubPhase; cursor: ScrubCursor; tally: ScrubTally };
}

export interface ScrubStepInput {
  scrubId: string;
  phase: ScrubPhase;
  cursor: ScrubCursor;
  tally: ScrubTally;
  tuning?: ScrubTuning;
}

export interface ScrubStepResult {
  phase: ScrubPhase;
  cursor: ScrubCursor;
  tally: ScrubTally;
}

export interface ScrubState {
  status: ScrubStatus;
  phase: ScrubPhase;
  tally: ScrubTally;
  error: string | null;
}

export const scrubStatusQuery = defineQuery<ScrubState>('scrubStatus');

export const ScrubFailure = {
  notFound: 'ScrubNotFound',
  ended: 'ScrubEnded',
} as const;

export function scrubWorkflowId(scrubId: string): string {
  return `scrub-${scrubId}`;
}

export const scrubOperation = 'scrub';
