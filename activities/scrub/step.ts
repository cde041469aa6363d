/**
 * What every step of a scrub shares: its fixed parts (the row, the reader within the byte budget, the
 * deadline), its moving position (cursor and tally, heartbeated after each batch), and what a finding
 * on a version does: counted; outside a dry run repaired from a backup blob, else the version marked
 * damaged with its event and audit row.
 */
import type { Knex } from 'knex';
import { recordEvent } from '../../lib/events/outbox';
import { auditWriterOf, runActorOf, type AuditEntry } from '../../lib/audit/log';
import { restoreVersionObject, type Reader } from '../../lib/scrub/repair';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import {
  insertFinding,
  markVersionDamaged,
  markVersionRepaired,
  setFindingOutcome,
  versionUnclaimed,
  type ScrubRow,
  type ScrubVersion,
} from '../../lib/scrub/store';
import { lockObjectKeys } from '../../lib/assets/store';
import { pausePoint } from '../../lib/assets/pausePoints';
import type { FindingKind, ScrubCursor, ScrubTally } from '../../workflows/scrub/definitions';
import type { ActivityDeps } from '../deps';

export type ScrubDeps = Pick<ActivityDeps, 'config' | 'db' | 's3' | 'logger'>;

export interface Step {
  deps: ScrubDeps;
  row: ScrubRow;
  cursor: ScrubCursor;
  tally: ScrubTally;
  deadline: number;
  pageSize: number;
  reader: Reader;
  /** Heartbeats the step's position. */
  beat(): void;
}

/** Records a finding (once per scrub: a retried step finds again what its lost attempt found); its count moves. */
export async function found(step: Step, kind: FindingKind, subject: string, detail: string | null = null): Promise<void> {
  if (await insertFinding(step.deps.db, step.row.id, kind, subject, detail))
    step.tally.counts = { ...step.tally.counts, [kind]: (step.tally.counts[kind] ?? 0) + 1 };
}

/** What the scrub did about a finding. */
export async function acted(step: Step, kind: FindingKind, subject: string, outcome: 'repaired' | 'unrepairable', note?: string): Promise<void> {
  await setFindingOutcome(step.deps.db, step.row.id, kind, subject, outcome, note);
  step.tally[outcome] += 1;
}

export function overBudget(step: Step): boolean {
  return Date.now() >= step.deadline;
}

export async function audit(step: Pick<Step, 'deps' | 'row'>, trx: Knex | Knex.Transaction, entry: Omit<AuditEntry, 'actor'>): Promise<void> {
  await auditWriterOf(step.deps.config.audit.enabled)(trx as Knex.Transaction, { ...entry, actor: runActorOf(step.row) });
}

/**
 * A version whose object is missing or holds other bytes: counted as `kind`; outside a dry run its
 * bytes put back (repaired), else the version marked damaged (unrepairable).
 */
export async function onVersionFinding(step: Step, v: ScrubVersion, kind: FindingKind, what: string): Promise<void> {
  await found(step, kind, v.id, what);
  step.deps.logger.warn('scrub finding', { scrub_id: step.row.id, kind, asset_id: v.asset_id, version_id: v.id, object_key: v.object_key, what });
  if (step.row.dry_run) return;
  await pausePoint('version-repairing', [v.id]);
  const source = await restoreVersionObject(step.reader, v);
  const subjects = { asset_id: v.asset_id, version_id: v.id };
  if (source) {
    await pausePoint('version-copied', [v.id]);
    const kept = await step.deps.db.transaction(async (trx) => {
      await lockObjectKeys(trx, [v.object_key]);
      if (!(await versionUnclaimed(trx, v.id))) {
        // Deleted (or claimed for deletion) while the repair copied: what it put back would be an orphan.
        await step.deps.s3.send(new DeleteObjectCommand({ Bucket: step.deps.config.s3.bucket, Key: v.object_key }));
        return false;
      }
      await markVersionRepaired(trx, v.id);
      await audit(step, trx, { action: 'scrub.version_repaired', outcome: `${kind}: from ${source.kind} ${source.bucket}/${source.key}`, subjects });
      return true;
    });
    if (!kept) {
      step.deps.logger.info('scrub repair undone: the version was deleted meanwhile', { scrub_id: step.row.id, version_id: v.id });
      return;
    }
    const from = source.kind === 'backup_blob' ? 'the backup blob' : `the object of version ${source.versionId}`;
    await acted(step, kind, v.id, 'repaired', `repaired from ${from} ${source.bucket}/${source.key}`);
    step.deps.logger.info('scrub repaired a version', { scrub_id: step.row.id, version_id: v.id, source: `${source.bucket}/${source.key}` });
    return;
  }
  const damage = `${what}; no backup blob nor other object holds its content ${v.checksum_sha256} (${v.size_bytes} bytes)`;
  await step.deps.db.transaction(async (trx) => {
    if (!(await markVersionDamaged(trx, v.id, damage))) return;
    await recordEvent(trx, 'storage.version.damaged', v.asset_id, { asset_id: v.asset_id, version_id: v.id, kind, damage, scrub_id: step.row.id });
    await audit(step, trx, { action: 'scrub.version_damaged', outcome: kind, subjects });
  });
  await acted(step, kind, v.id, 'unrepairable');
}
