/**
 * What the history lets the service hold once quiet: the versions it acknowledged (with the bytes
 * sent), whether each asset was deleted for good, and for each field several writers set (name,
 * soft-deleted, grants) the values that may be last. A write that may be last is one no write known
 * to have happened began after it ended; a write whose outcome is unknown may have happened or not.
 */
import type { Entry, History, UploadFacts } from './history';

export interface AckedVersion extends UploadFacts {
  assetId: string;
  versionId: string;
  entry: Entry;
}

/** What the catalog says became of an upload the service accepted (202) or answered nothing for. */
export interface SessionFate {
  status: string;
  asset_id: string | null;
  version_id: string | null;
  error: string | null;
}

const ACCEPTED = 202;

export function isUpload(e: Entry): boolean {
  return e.upload !== undefined && !e.kind.startsWith('fault');
}

/** Versions the service said it committed: a 2xx with the version's id, or a 202 whose session committed since. */
export function ackedVersions(history: History, fates: Map<string, SessionFate>): AckedVersion[] {
  const versions: AckedVersion[] = [];
  for (const entry of history.entries.filter((e) => isUpload(e) && e.outcome === 'ok')) {
    const facts = entry.upload!;
    const fate = facts.uploadId ? fates.get(facts.uploadId) : undefined;
    const versionId = facts.versionId ?? (fate?.status === 'completed' ? fate.version_id : undefined);
    const assetId = facts.assetId ?? fate?.asset_id ?? entry.assetId;
    if (versionId && assetId) versions.push({ ...facts, assetId, versionId, entry });
  }
  return versions;
}

/** Every asset an acknowledged operation named. */
export function assetsOf(history: History, versions: AckedVersion[]): Set<string> {
  const ids = new Set<string>(versions.map((v) => v.assetId));
  for (const e of history.entries) if (e.assetId && e.outcome === 'ok') ids.add(e.assetId);
  return ids;
}

export type PermanentDeletion = 'done' | 'maybe' | 'none';

export function permanentDeletionOf(history: History, assetId: string): PermanentDeletion {
  const deletions = history.entries.filter((e) => e.kind === 'permanentDelete' && e.assetId === assetId);
  if (deletions.some((e) => e.outcome === 'ok')) return 'done';
  return deletions.some((e) => e.outcome === 'unknown') ? 'maybe' : 'none';
}

interface Write {
  start: number;
  end: number;
  certain: boolean;
  value: string;
}

/**
 * The values that may be last among `writes`. A write whose end is unknown (accepted for later, or
 * unanswered) counts as ending never. When every candidate is uncertain (none of them may have
 * happened), the certain writes are candidates too: an over-approximation, never a false alarm.
 */
export function possibleLastValues(writes: Write[]): Set<string> {
  const certain = writes.filter((w) => w.certain);
  const candidates = writes.filter((w) => !certain.some((c) => c !== w && c.start > w.end));
  const values = new Set(candidates.map((w) => w.value));
  if (candidates.every((w) => !w.certain)) for (const w of certain) values.add(w.value);
  return values;
}

function writeOf(e: Entry, value: string, fates: Map<string, SessionFate>): Write | undefined {
  if (e.outcome === 'refused') return undefined;
  const fate = e.upload?.uploadId ? fates.get(e.upload.uploadId) : undefined;
  if (fate && fate.status !== 'completed') return undefined;
  const committedWhenAnswered = e.outcome === 'ok' && e.status !== ACCEPTED;
  const certain = e.outcome === 'ok' && (!isUpload(e) || e.status !== ACCEPTED || fate?.status === 'completed');
  return { start: e.start, end: committedWhenAnswered ? e.end : Infinity, certain, value };
}

/** The field each kind of write sets, and the value it sets it to ('*': a name read from the asset at some point). */
const FIELD_WRITERS: Record<'name' | 'deleted' | 'grants', (e: Entry) => string | undefined> = {
  name: (e) => (e.kind === 'rename' ? e.value : e.kind === 'versionRestore' ? '*' : isUpload(e) ? e.upload!.name : undefined),
  deleted: (e) => (e.kind === 'softDelete' ? 'deleted' : e.kind === 'restore' ? 'live' : e.kind.endsWith('Create') ? 'live' : undefined),
  grants: (e) => (e.kind === 'grant' ? e.value : e.kind.endsWith('Create') ? '[]' : undefined),
};

export function possibleValuesOf(history: History, fates: Map<string, SessionFate>, assetId: string, field: keyof typeof FIELD_WRITERS): Set<string> {
  const writes: Write[] = [];
  for (const e of history.entries) {
    const value = e.assetId === assetId || e.upload?.assetId === assetId ? FIELD_WRITERS[field](e) : undefined;
    const write = value === undefined ? undefined : writeOf(e, value, fates);
    if (write) writes.push(write);
  }
  const values = possibleLastValues(writes);
  // A version restore writes the name the asset had when it was asked: any name written before it ended.
  if (values.delete('*'))
    for (const w of writes) if (w.value !== '*' && w.start < Math.max(...writes.filter((x) => x.value === '*').map((x) => x.end))) values.add(w.value);
  return values;
}
