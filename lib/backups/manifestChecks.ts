/**
 * What an import checks of each line of a manifest the catalog does not know (lib/backups/import.ts)
 * before it registers the backup. The bucket is the import's only source, and whoever can write it
 * can write a manifest and a summary that agree: their SHA-256 proves no more than that they were
 * not damaged. So every line must also be one this service writes, in the order it writes them:
 *
 * - the header is of a format this service reads, and of the backup the manifest is named after;
 * - a version line follows its asset's line, and its object key is the one the service derives from
 *   the asset's and version's ids (a restore writes the version's bytes there: any other key would
 *   overwrite what another asset holds);
 * - a blob line's key is the content's address (blobs/sha256/…), and its source a version's key;
 * - a record line is of a table a backup holds; a backup's row names its own manifest key or none (a
 *   restore's, its backup's). Audit rows are not judged by their time: a folded refusal's row carries
 *   the API's clock, which may run ahead of the database's that dates the snapshot, and a check that
 *   refused a genuine backup in a disaster would cost more than a forged row a bucket writer could
 *   date earlier anyway (docs/recovery.md: the bucket is trusted);
 * - after the end line, nothing.
 *
 * The first line that fails stops the reading: the manifest is refused with that line's byte offset.
 */
import { z } from 'zod';
import { objectKeyFor } from '../assets/keys';
import { UUID_PATTERN } from '../platform/ids';
import { blobKeyFor, manifestKeyFor } from './catalog';
import { MANIFEST_FORMAT, ManifestCorruptError, type EndLine, type HeaderLine, type ManifestLine, type ReadLine } from './manifest';
import { RECORD_TABLES } from './records';

export const MANIFEST_FORMATS = ['storage-backup/1', MANIFEST_FORMAT] as const;

const id = z.string().regex(UUID_PATTERN, 'must be a UUID');
const count = z.number().int().min(0);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256');
const time = z.iso.datetime({ offset: true });

const header = z.object({
  type: z.literal('header'),
  format: z.enum(MANIFEST_FORMATS, { error: (i) => `is ${JSON.stringify(i.input)}, not a format this service reads (${MANIFEST_FORMATS.join(', ')})` }),
  backup_id: id,
  snapshot_at: time,
  scope: z.object({ asset_ids: z.array(id).optional(), include_all_versions: z.boolean() }),
});
/** An asset line and a version line as this service writes them (a restore drill checks its sample's with these too). */
export const assetLine = z.looseObject({ type: z.literal('asset'), id, name: z.string(), current_version_id: id.nullable() });
export const versionLine = z.looseObject({
  type: z.literal('version'),
  id,
  asset_id: id,
  version_number: z.number().int().min(1),
  object_key: z.string(),
  size_bytes: count,
  checksum_sha256: sha256,
});
const blob = z.object({
  type: z.literal('blob'),
  sha256,
  size_bytes: count,
  key: z.string(),
  source: z.object({ asset_id: id, version_id: id, object_key: z.string() }),
});
const record = z.object({ type: z.literal('record'), table: z.enum(RECORD_TABLES), row: z.record(z.string(), z.unknown()) });
const end = z.looseObject({ type: z.literal('end'), assets: count, versions: count, blobs: count, bytes: count, version_bytes: count });
const jobRow = z.looseObject({ id, kind: z.enum(['backup', 'restore']), backup_id: id.nullable().optional(), manifest_key: z.string().nullable().optional() });
const auditRow = z.looseObject({ at: time });

const SECTIONS = ['header', 'assets', 'records', 'blobs', 'end'] as const;
type Section = (typeof SECTIONS)[number];
const SECTION_OF: Record<string, Section> = { header: 'header', asset: 'assets', version: 'assets', record: 'records', blob: 'blobs', end: 'end' };

export interface CheckedLines {
  header: HeaderLine;
  end: EndLine;
  offsets: { assets: number; records: number; blobs: number };
}

/** What the lines read so far held. */
interface CheckState {
  backupId: string;
  key: string;
  section?: Section;
  headerLine?: HeaderLine;
  endLine?: EndLine;
  lastAsset?: string;
  offsets: { assets: number; records: number; blobs: number };
}

function parsed<T>(state: CheckState, schema: z.ZodType<T>, value: unknown, at: number): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ManifestCorruptError(`manifest ${state.key}: the line at byte ${at}: ${issue.path.join('.') || 'line'} ${issue.message}`);
  }
  return result.data;
}

function refuse(state: CheckState, at: number, why: string): never {
  throw new ManifestCorruptError(`manifest ${state.key}: the line at byte ${at}: ${why}`);
}

/** Checks a manifest's lines as they are read; `done` answers what they held once the last was seen. */
export function manifestChecker(backupId: string, key: string) {
  const state: CheckState = { backupId, key, offsets: { assets: -1, records: -1, blobs: -1 } };
  return {
    visit: (read: ReadLine): void => visitLine(state, read),
    /** What the lines held, or why they are no whole manifest. */
    done(): CheckedLines | string {
      if (!state.headerLine) return `manifest ${key} has no header of backup ${backupId}`;
      if (!state.endLine) return `manifest ${key} has no end line`;
      return { header: state.headerLine, end: state.endLine, offsets: state.offsets };
    },
  };
}

function visitLine(state: CheckState, { line, start, end: after }: ReadLine): void {
  enterSection(state, SECTION_OF[line.type], line.type, start);
  switch (line.type) {
    case 'header': {
      const h = parsed(state, header, line, start);
      if (h.backup_id !== state.backupId) refuse(state, start, `the header is of backup ${h.backup_id}`);
      state.headerLine = h as HeaderLine;
      state.offsets.assets = after;
      return;
    }
    case 'asset':
      state.lastAsset = parsed(state, assetLine, line, start).id;
      return;
    case 'version': {
      const v = parsed(state, versionLine, line, start);
      if (v.asset_id !== state.lastAsset) refuse(state, start, `version ${v.id} follows no line of its asset ${v.asset_id}`);
      if (v.object_key !== objectKeyFor(v.asset_id, v.id))
        refuse(state, start, `version ${v.id} names the object key ${JSON.stringify(v.object_key)}, not its own`);
      return;
    }
    case 'record':
      return checkRecord(state, line, start);
    case 'blob': {
      const b = parsed(state, blob, line, start);
      if (b.key !== blobKeyFor(b.sha256)) refuse(state, start, `the blob ${b.sha256} names the key ${JSON.stringify(b.key)}, not its address`);
      if (b.source.object_key !== objectKeyFor(b.source.asset_id, b.source.version_id))
        refuse(state, start, `the blob ${b.sha256} names a source key that is no version's`);
      return;
    }
    case 'end':
      state.endLine = parsed(state, end, line, start) as EndLine;
      return;
  }
}

/** The sections come in their order, each once; where each begins is noted. */
function enterSection(state: CheckState, next: Section, type: string, start: number): void {
  const { section, offsets } = state;
  if (section === 'end') refuse(state, start, 'follows the end line');
  if (section === undefined && next !== 'header') refuse(state, start, 'comes before the header');
  if (section !== undefined && SECTIONS.indexOf(next) < SECTIONS.indexOf(section)) refuse(state, start, `a ${type} line after the ${section} lines`);
  if (next === 'header' && section !== undefined) refuse(state, start, 'a second header');
  if (section !== next) {
    if (next === 'records' || next === 'blobs') offsets[next] = start;
    // A section left out begins where the next one does.
    if (next === 'blobs' || next === 'end') {
      if (offsets.records < 0) offsets.records = start;
      if (offsets.blobs < 0) offsets.blobs = start;
    }
  }
  state.section = next;
}

function checkRecord(state: CheckState, line: ManifestLine, start: number): void {
  const r = parsed(state, record, line, start);
  if (state.headerLine!.format === 'storage-backup/1') refuse(state, start, 'a record line in a manifest of format storage-backup/1');
  if (r.table === 'backup_jobs') {
    const row = parsed(state, jobRow, r.row, start);
    // A restore's row names the manifest of the backup it restores.
    const own = row.kind === 'backup' ? row.id : row.backup_id;
    if (row.manifest_key != null && (!own || row.manifest_key !== manifestKeyFor(own)))
      refuse(state, start, `${row.kind} ${row.id} names the manifest key ${JSON.stringify(row.manifest_key)}, not its backup's`);
  }
  if (r.table === 'audit_log') parsed(state, auditRow, r.row, start);
}
