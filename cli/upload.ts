/**
 * `storage upload <file…>`: a simple multipart upload below the threshold, a chunked session with
 * 4 parts in flight above it; the SHA-256 is sent either way. A chunked upload's session is
 * remembered (cli/resumeState.ts): run again on the same file, only the missing parts are sent.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import mime from 'mime-types';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { followOperation } from '../client';
import { mapLimit } from '../lib/platform/concurrency';
import { bytes, contextOf, CliError, EXIT, example, keyValue, list, positiveInt, unwrap, type Ctx } from './context';
import { readRange, sha256OfFile } from './files';
import { progressOf, type Bar } from './progress';
import { clearState, readState, stateFileOf, transferLockFileOf, writeState } from './resumeState';
import { takeRunLock } from './runLock';

export const PARTS_IN_FLIGHT = 4;
const MIB = 1024 * 1024;
/** A simple upload's body is held in memory once while it is sent: no file larger than this goes that way. */
const MAX_THRESHOLD_MIB = 64;

function thresholdOf(value: string): number {
  const n = positiveInt(value);
  if (n > MAX_THRESHOLD_MIB) throw new InvalidArgumentError(`at most ${MAX_THRESHOLD_MIB} (MiB): larger files go chunked`);
  return n;
}

interface UploadOptions {
  name?: string;
  contentType?: string;
  tags?: string[];
  metadata?: Record<string, string>;
  asset?: string;
  /** With `asset`: the version is made only while the asset's ETag is still this one (else 412). */
  ifMatch?: string;
  threshold: number;
  limitRate?: number;
}

export interface UploadSummary {
  file: string;
  method: 'simple' | 'chunked';
  upload_id: string | null;
  resumed: boolean;
  bytes_sent: number;
  size_bytes: number;
  asset: { id: string };
  version: unknown;
}

async function getAsset(ctx: Ctx, id: string) {
  return unwrap(ctx.client.GET('/api/v2/assets/{id}', { params: { path: { id } } }));
}

/** Paces the parts' sends to `--limit-rate` bytes per second, across all of them. */
function pacer(rate: number | undefined): (n: number) => Promise<void> {
  if (!rate) return async () => undefined;
  const start = Date.now();
  let reserved = 0;
  return async (n) => {
    reserved += n;
    const due = start + ((reserved - n) / rate) * 1000;
    if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
  };
}

/**
 * The type a file is sent with: --content-type, else its extension's; application/octet-stream for an
 * extension nobody registered, which has the server read the type from the bytes (and a new version
 * keep its asset's type).
 */
function contentTypeOf(file: string, given: string | undefined): string {
  return given ?? (mime.lookup(file) || 'application/octet-stream');
}

/** Follows the operation of an upload answered 202 (its Location, operation_url) to its end; answers the asset it made. */
async function waitForUpload(ctx: Ctx, accepted: { upload_id: string; operation_url: string }): Promise<string> {
  const op = await followOperation(ctx.client, accepted.operation_url);
  const assetId = /^\/api\/v2\/assets\/([^/]+)\//.exec(op.result ?? '')?.[1];
  if (op.status !== 'succeeded' || !assetId) throw new CliError(`upload ${accepted.upload_id} ended ${op.status}: ${op.error?.detail ?? ''}`);
  return assetId;
}

/** The form of a simple upload: the fields as the document types them, the file's bytes in place of its name. */
function formOf(blob: Blob, filename: string) {
  return (body: Record<string, unknown>) => {
    const form = new FormData();
    for (const [key, value] of Object.entries(body)) {
      if (key === 'file' || value === undefined) continue;
      if (key === 'metadata') form.append(key, JSON.stringify(value));
      else if (Array.isArray(value)) for (const v of value) form.append(key, String(v));
      else form.append(key, String(value));
    }
    form.append('file', blob, filename);
    return form;
  };
}

async function simpleUpload(ctx: Ctx, file: string, size: number, checksum: string, opts: UploadOptions, bar: Bar): Promise<UploadSummary> {
  const filename = path.basename(file);
  // Backed by the file. Node's fetch still holds about one copy of a body it sends, so --threshold is capped.
  const contentType = contentTypeOf(file, opts.contentType);
  const blob = await fs.openAsBlob(file, { type: contentType });
  const fields = {
    // The document types the file as a string (format: binary); formOf sends the bytes in its place.
    file: filename,
    // A new version keeps the asset's name unless --name gives one.
    name: opts.name ?? (opts.asset ? undefined : filename),
    checksum_sha256: checksum,
    content_type: contentType,
    tags: opts.tags?.length ? opts.tags : undefined,
    metadata: opts.metadata,
  };
  const bodySerializer = formOf(blob, filename);
  // Each attempt sends a new form over the file (its boundary its own): a copy of the request for a retry would hold the whole file.
  const fetch = (request: Request) =>
    ctx.send(() => {
      const headers = new Headers(request.headers);
      headers.delete('content-type');
      return new Request(request.url, { method: request.method, headers, body: bodySerializer(fields), signal: request.signal });
    });
  let asset: { id: string };
  let version: unknown = null;
  let accepted: { upload_id: string; operation_url: string } | undefined;
  if (opts.asset) {
    const answer = await unwrap(
      ctx.client.POST('/api/v2/assets/{id}/versions', { params: { path: { id: opts.asset } }, headers: ifMatchOf(opts), body: fields, bodySerializer, fetch }),
    );
    if ('upload_id' in answer) accepted = answer;
    else version = answer;
    asset = await getAsset(ctx, opts.asset);
  } else {
    const answer = await unwrap(ctx.client.POST('/api/v2/assets/upload', { body: fields, bodySerializer, fetch }));
    if ('upload_id' in answer) accepted = answer;
    asset = answer as { id: string };
  }
  if (accepted) {
    // Finishing outlasted the server's wait: its operation says when it is done.
    asset = await getAsset(ctx, await waitForUpload(ctx, accepted));
  }
  bar.update(size);
  return { file, method: 'simple', upload_id: accepted?.upload_id ?? null, resumed: false, bytes_sent: size, size_bytes: size, asset, version };
}

async function chunkedUpload(ctx: Ctx, file: string, stat: fs.Stats, checksum: string, opts: UploadOptions, bar: Bar, total: Bar): Promise<UploadSummary> {
  const stateFile = stateFileOf(ctx.api, file, stat, opts.asset);
  // Another upload of the file would resume this one's session under it, and one of them end refused (409).
  const release = takeRunLock(transferLockFileOf(stateFile), `upload of ${file}`);
  try {
    return await sendChunked(ctx, file, stat, checksum, opts, bar, total, stateFile);
  } finally {
    release();
  }
}

async function sendChunked(
  ctx: Ctx,
  file: string,
  stat: fs.Stats,
  checksum: string,
  opts: UploadOptions,
  bar: Bar,
  total: Bar,
  stateFile: string,
): Promise<UploadSummary> {
  const saved = readState(stateFile);
  let session = undefined as Awaited<ReturnType<typeof openSession>> | undefined;
  let resumed = false;
  if (saved && saved.checksum_sha256 === checksum && saved.size_bytes === stat.size) {
    const { data } = await ctx.client.GET('/api/v2/uploads/{id}', { params: { path: { id: saved.upload_id } } });
    if (data?.status === 'open') {
      session = data;
      resumed = true;
    }
  }
  session ??= await openSession(ctx, file, stat.size, checksum, opts);
  writeState(stateFile, { upload_id: session.id, checksum_sha256: checksum, size_bytes: stat.size });
  const partSize = session.part_size_bytes!;
  const partCount = session.part_count ?? Math.max(1, Math.ceil(stat.size / partSize));
  const received = new Set(session.parts_received);
  const sizeOf = (n: number) => Math.min(partSize, stat.size - (n - 1) * partSize);
  const already = [...received].reduce((sum, n) => sum + sizeOf(n), 0);
  bar.update(already);
  total.increment(already);
  const missing = Array.from({ length: partCount }, (_, i) => i + 1).filter((n) => !received.has(n));
  const pace = pacer(opts.limitRate);
  const handle = await fs.promises.open(file, 'r');
  let sent = 0;
  try {
    await mapLimit(missing, PARTS_IN_FLIGHT, async (n) => {
      const body = await readRange(handle, (n - 1) * partSize, sizeOf(n));
      await pace(body.length);
      await unwrap(
        ctx.client.PUT('/api/v2/uploads/{id}/parts/{n}', {
          params: { path: { id: session.id, n } },
          // The document types a raw body as a string (format: binary): the bytes are sent as they are.
          body: body as unknown as string,
          bodySerializer: (b) => b as unknown as Buffer,
          headers: { 'content-type': 'application/octet-stream', 'x-checksum-sha256': createHash('sha256').update(body).digest('hex') },
        }),
      );
      sent += body.length;
      bar.increment(body.length);
      total.increment(body.length);
    });
  } finally {
    await handle.close();
  }
  const result = await unwrap(ctx.client.POST('/api/v2/uploads/{id}/complete', { params: { path: { id: session.id } } }));
  clearState(stateFile);
  if ('upload' in result)
    return { file, method: 'chunked', upload_id: session.id, resumed, bytes_sent: sent, size_bytes: stat.size, asset: result.asset, version: result.version };
  const asset = await getAsset(ctx, await waitForUpload(ctx, result));
  return { file, method: 'chunked', upload_id: session.id, resumed, bytes_sent: sent, size_bytes: stat.size, asset, version: null };
}

async function openSession(ctx: Ctx, file: string, size: number, checksum: string, opts: UploadOptions) {
  // A session names its file; a new version keeps the asset's name unless --name gives one.
  const name = opts.name ?? (opts.asset ? (await getAsset(ctx, opts.asset)).name : path.basename(file));
  return unwrap(
    ctx.client.POST('/api/v2/uploads', {
      body: {
        name,
        size_bytes: size,
        checksum_sha256: checksum,
        content_type: contentTypeOf(file, opts.contentType),
        ...(opts.asset ? { asset_id: opts.asset } : {}),
        ...(opts.tags?.length ? { tags: opts.tags } : {}),
        ...(opts.metadata ? { metadata: opts.metadata } : {}),
      },
      headers: ifMatchOf(opts),
    }),
  );
}

function ifMatchOf(opts: UploadOptions): Record<string, string> {
  return opts.asset && opts.ifMatch ? { 'if-match': opts.ifMatch } : {};
}

/** `ctxOf`: `storage sync` runs this command per file, with a context that keeps its --json for itself. */
export function uploadCommand(ctxOf: (command: Command) => Ctx = contextOf): Command {
  return new Command('upload')
    .description('upload files: simple below --threshold, chunked (4 parts in flight, resumable) above it')
    .argument('<file...>', 'the files to upload')
    .option('--name <name>', "the asset's name (default: the file's name; one file only)")
    .option('--content-type <type>', "the content type (default: the file extension's; for an unknown one, the server reads it from the bytes)")
    .option('--tags <tags>', 'tags, comma-separated or repeated', list)
    .option('--metadata <key=value>', 'a metadata entry, repeatable', keyValue)
    .option('--asset <id>', 'upload as a new version of this asset (one file only)')
    .option('--if-match <etag>', "with --asset: make the version only while the asset's ETag is still this one (else 412, nothing made)")
    .addOption(new Option('--threshold <MiB>', `files of this size and above go chunked (at most ${MAX_THRESHOLD_MIB})`).argParser(thresholdOf).default(16))
    .addOption(new Option('--limit-rate <MiB/s>', "cap the parts' send rate").argParser(positiveInt))
    .addHelpText('after', example('storage upload maps/dungeon.png --tags maps,campaign-42 --metadata campaign=42'))
    .action(async (files: string[], raw: Omit<UploadOptions, 'limitRate'> & { limitRate?: number }, command: Command) => {
      const ctx = ctxOf(command);
      if (files.length > 1 && (raw.name || raw.asset)) command.error('--name and --asset take one file', { exitCode: 2 });
      const opts: UploadOptions = { ...raw, threshold: raw.threshold * MIB, limitRate: raw.limitRate && raw.limitRate * MIB };
      const stats = files.map((file) => {
        try {
          const stat = fs.statSync(file);
          if (!stat.isFile()) throw new Error('not a file');
          return stat;
        } catch (err) {
          // A file that is not there is bad local input, as a bad option is.
          throw new CliError(`${file}: ${(err as Error).message}`, EXIT.usage);
        }
      });
      const progress = progressOf(ctx.interactive);
      const total =
        files.length > 1
          ? progress.bar(
              'total',
              stats.reduce((sum, s) => sum + s.size, 0),
            )
          : { increment: () => undefined, update: () => undefined };
      const summaries: UploadSummary[] = [];
      const interrupted = () => {
        progress.stop();
        process.stderr.write('\nstorage: upload interrupted; run the same command again to resume it\n');
        process.exit(130);
      };
      process.once('SIGINT', interrupted);
      try {
        for (const [i, file] of files.entries()) {
          const stat = stats[i];
          const bar = progress.bar(path.basename(file), stat.size);
          const checksum = await sha256OfFile(file);
          if (stat.size < opts.threshold) {
            const summary = await simpleUpload(ctx, file, stat.size, checksum, opts, bar);
            total.increment(stat.size);
            summaries.push(summary);
          } else {
            summaries.push(await chunkedUpload(ctx, file, stat, checksum, opts, bar, total));
          }
        }
      } finally {
        progress.stop();
        process.removeListener('SIGINT', interrupted);
      }
      if (ctx.json) ctx.printJson(files.length === 1 ? summaries[0] : summaries);
      for (const s of summaries) {
        ctx.say(`${s.file} -> ${s.asset.id} (${bytes(s.size_bytes)}, ${s.method}${s.resumed ? `, resumed: ${bytes(s.bytes_sent)} sent` : ''})`);
      }
    });
}
