/**
 * The backup manifest: JSON Lines at `manifests/{backup_id}.jsonl` in the backup bucket, written
 * from one consistent snapshot of the catalog (a REPEATABLE READ, read-only transaction) and
 * streamed to S3 while it is hashed, so neither the catalog nor the manifest is ever held whole.
 *
 *   {"type":"header", "format", "backup_id", "snapshot_at", "scope"}
 *   {"type":"asset", ...every column of the asset, "metadata", "grants"}   one per asset, by id,
 *   {"type":"version", ...every column of the version}                      each followed by its versions
 *                                                                           (uploaded_by absent in older ones)
 *   {"type":"record", "table", "row"}                                       policies, quotas, history, audit
 *                                                                           log (lib/backups/records.ts), in a
 *                                                                           backup of every asset only
 *   {"type":"blob", "sha256", "size_bytes", "key", "source"}                one per distinct content
 *   {"type":"end", "assets", "versions", "blobs", "bytes", "version_bytes", "records"}
 *
 * Assets and versions whose deletion has begun are left out (lib/backups/handoff.ts says why).
 * Timestamps are exact (microseconds, UTC). Readers work from byte offsets (`readManifestLines`), so a
 * copy or restore resumes at the line after the last one it finished.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import type { AssetRow } from '../assets/assets';
import { manifestAssetPage, manifestBlobsSql, manifestVersionsOf } from '../assets/store';
import { blobKeyFor } from './catalog';
import { type BackupCounts, type BackupScope } from './jobRows';
import type { VersionRow } from '../assets/versions';
import type { DatesAsText } from '../platform/jsonDates';
import { stageToS3 } from '../platform/staging';
import { emptyRecordCounts, snapshotRecords, type RecordCounts, type RecordLine } from './records';
import { closeCursor, declareCursor, fetchFromCursor, snapshotTime } from './store';

/** Format 1 (before issue 24) had no record lines and no asset revision; readers take both. */
export const MANIFEST_FORMAT = 'storage-backup/2';

export interface HeaderLine {
  type: 'header';
  format: string;
  backup_id: string;
  snapshot_at: string;
  scope: BackupScope;
}

/**
 * Manifests written before owners existed hold neither owner_id nor grants: their assets restore as the
 * system's. Those written before issue 24 hold no revision.
 */
export type AssetLine = { type: 'asset' } & DatesAsText<Omit<AssetRow, 'revision' | 'owner_id' | 'grants'>> &
  Partial<Pick<AssetRow, 'revision' | 'owner_id' | 'grants'>>;

/** Manifests written before versions recorded their uploader hold no uploaded_by: those restore with none (NULL). */
export type VersionLine = { type: 'version' } & DatesAsText<Omit<VersionRow, 'uploaded_by'>> & Partial<Pick<VersionRow, 'uploaded_by'>>;

export interface BlobLine {
  type: 'blob';
  sha256: string;
  size_bytes: number;
  /** Its key in the backup bucket. */
  key: string;
  /** A version whose object holds this content, to copy it from. */
  source: { asset_id: string; version_id: string; object_key: string };
}

export interface EndLine extends BackupCounts {
  type: 'end';
  /** Absent in format 1, and null in a backup of some assets (it holds no records). */
  records?: RecordCounts | null;
}

export type { RecordLine };
export type ManifestLine = HeaderLine | AssetLine | VersionLine | RecordLine | BlobLine | EndLine;

/** A manifest that cannot be read as one (unparseable line, wrong format): permanent. */
export class ManifestCorruptError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'ManifestCorruptError';
  }
}

const ASSETS_PAGE = 500;
const BLOBS_FETCH = 1000;

export interface WrittenManifest {
  sha256: string;
  sizeBytes: number;
  /** Byte offset of the first blob line (of the end line when there is none). */
  blobsOffset: number;
  /** Byte offset just after the header: where the asset lines begin. */
  assetsOffset: number;
  /** Byte offset of the first record line (of what follows the asset lines when there is none). */
  recordsOffset: number;
  snapshotAt: string;
  counts: BackupCounts;
  records: RecordCounts | null;
}

/** What a manifest being written has come to: its bytes and lines so far, where its sections begin, its counts. */
interface ManifestWriter {
  state: { bytes: number; lines: number; blobsOffset: number; assetsOffset: number; recordsOffset: number; snapshotAt: string };
  counts: BackupCounts;
  records: RecordCounts | null;
  encode: (line: ManifestLine) => Buffer;
}

function manifestWriter(scope: BackupScope, onProgress: (lines: number) => void): ManifestWriter {
  const state = { bytes: 0, lines: 0, blobsOffset: -1, assetsOffset: 0, recordsOffset: -1, snapshotAt: '' };
  const encode = (line: ManifestLine): Buffer => {
    const buf = Buffer.from(`${JSON.stringify(line)}\n`, 'utf8');
    state.bytes += buf.length;
    if (++state.lines % 500 === 0) onProgress(state.lines);
    return buf;
  };
  // A backup of some assets is no backup of the catalog: it holds no records.
  const records = scope.asset_ids ? null : emptyRecordCounts();
  return { state, counts: { assets: 0, versions: 0, blobs: 0, bytes: 0, version_bytes: 0 }, records, encode };
}

/**
 * Writes the manifest of `backupId` for `scope` from one snapshot and answers what it wrote.
 * `onProgress` is called every few hundred lines (the activity heartbeats there).
 */
export async function writeManifest(
  db: Knex,
  s3: S3Client,
  target: { bucket: string; key: string },
  backup: { id: string; scope: BackupScope },
  onProgress: (lines: number) => void = () => {},
): Promise<WrittenManifest> {
  return db.transaction(
    async (trx) => {
      const writer = manifestWriter(backup.scope, onProgress);
      const body = Readable.from(manifestChunks(trx, backup, writer));
      const staged = await stageToS3(s3, target.bucket, target.key, body, Infinity, { contentType: 'application/x-ndjson' });
      const { state, counts, records } = writer;
      return {
        sha256: staged.checksumSha256,
        sizeBytes: staged.sizeBytes,
        blobsOffset: state.blobsOffset,
        assetsOffset: state.assetsOffset,
        recordsOffset: state.recordsOffset,
        snapshotAt: state.snapshotAt,
        counts,
        records,
      };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}

async function* manifestChunks(trx: Knex.Transaction, backup: { id: string; scope: BackupScope }, w: ManifestWriter): AsyncGenerator<Buffer> {
  const snapshot_at = await snapshotTime(trx);
  w.state.snapshotAt = snapshot_at;
  yield w.encode({ type: 'header', format: MANIFEST_FORMAT, backup_id: backup.id, snapshot_at, scope: backup.scope });
  w.state.assetsOffset = w.state.bytes;
  yield* assetChunks(trx, backup.scope, w);
  w.state.recordsOffset = w.state.bytes;
  if (w.records) {
    for await (const page of snapshotRecords(trx, w.records)) yield Buffer.concat(page.map(w.encode));
  }
  yield* blobChunks(trx, backup.scope, w);
  yield w.encode({ type: 'end', ...w.counts, records: w.records });
}

/** The asset lines, each followed by its version lines, a page of assets at a time. */
async function* assetChunks(trx: Knex.Transaction, scope: BackupScope, w: ManifestWriter): AsyncGenerator<Buffer> {
  let after: string | null = null;
  for (;;) {
    const assets: AssetLine[] = await manifestAssetPage<AssetLine>(trx, scope, after, ASSETS_PAGE);
    if (assets.length === 0) break;
    const versions = await manifestVersionsOf<VersionLine>(
      trx,
      assets.map((a) => a.id),
      scope.include_all_versions,
    );
    const byAsset = new Map<string, VersionLine[]>();
    for (const v of versions) byAsset.set(v.asset_id, [...(byAsset.get(v.asset_id) ?? []), v]);
    const chunk: Buffer[] = [];
    for (const asset of assets) {
      chunk.push(w.encode(asset));
      w.counts.assets++;
      for (const v of byAsset.get(asset.id) ?? []) {
        chunk.push(w.encode(v));
        w.counts.versions++;
        w.counts.version_bytes += v.size_bytes;
      }
    }
    yield Buffer.concat(chunk);
    after = assets[assets.length - 1].id;
  }
}

/** Every distinct content, by SHA-256, through a cursor of the same snapshot. */
async function* blobChunks(trx: Knex.Transaction, scope: BackupScope, w: ManifestWriter): AsyncGenerator<Buffer> {
  const { sql, bindings } = manifestBlobsSql(trx, scope);
  await declareCursor(trx, 'backup_blobs', sql, bindings);
  w.state.blobsOffset = w.state.bytes;
  for (;;) {
    const rows = await fetchFromCursor<{ sha256: string; size_bytes: number; asset_id: string; version_id: string; object_key: string }>(
      trx,
      'backup_blobs',
      BLOBS_FETCH,
    );
    if (rows.length === 0) break;
    const chunk = rows.map((r) => {
      w.counts.blobs++;
      w.counts.bytes += r.size_bytes;
      return w.encode({
        type: 'blob',
        sha256: r.sha256,
        size_bytes: r.size_bytes,
        key: blobKeyFor(r.sha256),
        source: { asset_id: r.asset_id, version_id: r.version_id, object_key: r.object_key },
      });
    });
    yield Buffer.concat(chunk);
  }
  await closeCursor(trx, 'backup_blobs');
}

export interface ReadLine {
  line: ManifestLine;
  /** Byte offset of the line's first byte, and just after its newline. */
  start: number;
  end: number;
}

/**
 * A manifest line may be no longer than this. The longest this service writes is an asset line of 64
 * metadata entries of 4,096 characters (about 1 MiB): a longer one, or a stream without a newline, is
 * no manifest of ours, and is refused before it is held whole.
 */
export const MAX_MANIFEST_LINE_BYTES = 8 * 1024 * 1024;

/** The lines of `body` (which begins at byte `offset` of the manifest `key`), each with its offsets; `tap` sees every chunk. */
async function* splitLines(body: Readable, key: string, offset: number, tap: (chunk: Buffer) => void = () => {}): AsyncGenerator<ReadLine> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      tap(chunk);
      let from = 0;
      for (let nl = chunk.indexOf(0x0a, from); nl !== -1; nl = chunk.indexOf(0x0a, from)) {
        const piece = chunk.subarray(from, nl);
        const length = pendingBytes + piece.length + 1;
        if (length > MAX_MANIFEST_LINE_BYTES)
          throw new ManifestCorruptError(`manifest ${key} has a line longer than ${MAX_MANIFEST_LINE_BYTES} bytes at byte ${offset}`);
        const text = pendingBytes ? Buffer.concat([...pending, piece]).toString('utf8') : piece.toString('utf8');
        pending = [];
        pendingBytes = 0;
        yield { line: parseLine(text, offset), start: offset, end: offset + length };
        offset += length;
        from = nl + 1;
      }
      if (from < chunk.length) {
        pending.push(chunk.subarray(from));
        pendingBytes += chunk.length - from;
        if (pendingBytes >= MAX_MANIFEST_LINE_BYTES)
          throw new ManifestCorruptError(`manifest ${key} has a line longer than ${MAX_MANIFEST_LINE_BYTES} bytes at byte ${offset}`);
      }
    }
  } finally {
    body.destroy();
  }
  if (pendingBytes) throw new ManifestCorruptError(`manifest ${key} ends without a newline at byte ${offset}`);
}

/**
 * The manifest's lines from byte offset `start` (a line boundary) to its end, streamed. A line that
 * is not JSON of a known type, or longer than MAX_MANIFEST_LINE_BYTES, is a ManifestCorruptError.
 */
export async function* readManifestLines(
  s3: S3Client,
  manifest: { bucket: string; key: string; sizeBytes: number },
  start: number,
  signal?: AbortSignal,
): AsyncGenerator<ReadLine> {
  if (start >= manifest.sizeBytes) return;
  const object = await s3.send(new GetObjectCommand({ Bucket: manifest.bucket, Key: manifest.key, Range: start > 0 ? `bytes=${start}-` : undefined }), {
    abortSignal: signal,
  });
  yield* splitLines(object.Body as Readable, manifest.key, start);
}

const LINE_TYPES = new Set(['header', 'asset', 'version', 'record', 'blob', 'end']);

function parseLine(text: string, offset: number): ManifestLine {
  let line: unknown;
  try {
    line = JSON.parse(text);
  } catch {
    throw new ManifestCorruptError(`manifest line at byte ${offset} is not JSON`);
  }
  if (!line || typeof line !== 'object' || !LINE_TYPES.has((line as { type?: string }).type ?? '')) {
    throw new ManifestCorruptError(`manifest line at byte ${offset} is of no known type`);
  }
  return line as ManifestLine;
}

/** Reads the whole manifest, hashing it; `visit` sees each line. */
export async function hashManifest(
  s3: S3Client,
  manifest: { bucket: string; key: string; sizeBytes: number },
  visit: (line: ReadLine) => void,
  signal?: AbortSignal,
): Promise<{ sha256: string; sizeBytes: number }> {
  // Hash the raw bytes, not re-encoded lines: the SHA-256 is of what is stored.
  const object = await s3.send(new GetObjectCommand({ Bucket: manifest.bucket, Key: manifest.key }), { abortSignal: signal });
  const hash = createHash('sha256');
  let sizeBytes = 0;
  const tap = (chunk: Buffer) => {
    hash.update(chunk);
    sizeBytes += chunk.length;
  };
  for await (const line of splitLines(object.Body as Readable, manifest.key, 0, tap)) visit(line);
  return { sha256: hash.digest('hex'), sizeBytes };
}
