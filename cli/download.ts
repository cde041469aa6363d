/**
 * `storage download <id>`: the bytes of one version (the current one unless --version), checked
 * against the version's SHA-256. The CLI never destroys or silently replaces a file it did not create:
 * - the bytes go to `<file>.part`, whose resume state (cli/resumeState.ts) names the asset, version
 *   and ETag it holds bytes of; run again after an interruption, the part is resumed with Range and
 *   If-Range, but only by a download of those very bytes (another version's part is begun anew);
 * - the part is put under the file's name only once its SHA-256 matched (a part that fails is removed);
 * - a file that is there already, or a `.part` no download left, is refused (exit 2) unless --force;
 * - `-o -` writes to stdout as the bytes come, and tells a SHA-256 mismatch by exit 1 and stderr.
 */
import { Command } from 'commander';
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { problemOf } from '../client';
import { bytes, CliError, contextOf, counted, example, EXIT, unwrap, type Ctx } from './context';
import { localNameOf, printable } from './fileNames';
import { sha256OfFile } from './files';
import { progressOf, type Bar } from './progress';
import { clearState, downloadStateFileOf, readState, transferLockFileOf, writeState, type DownloadState } from './resumeState';
import { takeRunLock } from './runLock';

/** Where to write: -o as given (into it, when it is a folder), else the asset's name if it is a safe one. */
function outputOf(assetName: string, output: string | undefined): string {
  const intoFolder = output !== undefined && fs.statSync(output, { throwIfNoEntry: false })?.isDirectory();
  if (output !== undefined && !intoFolder) return output;
  const local = localNameOf(assetName);
  if ('refused' in local)
    throw new CliError(`the asset's name "${printable(assetName, /$^/)}" is not used as a file name: ${local.refused}; give one with -o <file>`, EXIT.usage);
  return path.join(output ?? '.', local.name);
}

/** Puts the verified part under its name: never over a file that appeared meanwhile, unless --force. */
function publish(part: string, output: string, force: boolean): void {
  const appeared = () =>
    new CliError(`${output} appeared while downloading; the download is kept as ${part} (run again with --force to replace the file)`, EXIT.usage);
  if (force) return fs.renameSync(part, output);
  try {
    // A link fails if the name is taken, where a rename would replace what is there.
    fs.linkSync(part, output);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw appeared();
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    // A file system without hard links.
    if (fs.existsSync(output)) throw appeared();
    return fs.renameSync(part, output);
  }
  fs.rmSync(part);
}

interface Version {
  id: string;
  size_bytes: number;
  checksum_sha256: string;
}

/** The version's bytes from `start` on; a 200 (not 206) means the server sends them all. */
async function contentOf(ctx: Ctx, assetId: string, version: Version, start: number, etag: string): Promise<Response> {
  const { response } = await ctx.client.GET('/api/v2/assets/{id}/versions/{version_id}/content', {
    params: { path: { id: assetId, version_id: version.id } },
    parseAs: 'stream',
    headers: start > 0 ? { range: `bytes=${start}-`, 'if-range': etag } : {},
  });
  if (!response.ok) throw problemOf(response, await response.json().catch(() => undefined));
  return response;
}

/** Passes the body on, counting it against the version's size (and hashing it, for stdout). */
function guard(version: Version, start: number, bar: Bar, hash?: Hash): Transform {
  let written = start;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      written += chunk.length;
      // A server that sends more than the version holds would fill the disk before the SHA-256 could say so.
      if (written > version.size_bytes) return done(new CliError(`the server sent more than the version's ${counted(version.size_bytes, 'byte')}`));
      hash?.update(chunk);
      bar.increment(chunk.length);
      done(null, chunk);
    },
  });
}

/** `-o -`: the bytes as they come, for a pipe; nothing is kept, so nothing is resumed. */
async function toStdout(ctx: Ctx, assetId: string, version: Version): Promise<void> {
  if (ctx.json) throw new CliError('-o - writes the bytes to stdout, where --json would go too: give one of them', EXIT.usage);
  const hash = createHash('sha256');
  const progress = progressOf(ctx.interactive);
  const bar = progress.bar('stdout', version.size_bytes);
  try {
    const response = await contentOf(ctx, assetId, version, 0, '');
    const body = Readable.fromWeb(response.body as ReadableStream).pipe(guard(version, 0, bar, hash));
    for await (const chunk of body) if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
  } finally {
    progress.stop();
  }
  const got = hash.digest('hex');
  // What was written cannot be taken back: the exit code and stderr tell the reader not to trust it.
  if (got !== version.checksum_sha256)
    throw new CliError(`stdout: the download's SHA-256 ${got} differs from the version's ${version.checksum_sha256}; what was written is not the version`);
}

/** `ctxOf`: `storage pull` runs this command per file, with a context that keeps its --json for itself. */
export function downloadCommand(ctxOf: (command: Command) => Ctx = contextOf): Command {
  return new Command('download')
    .description("download an asset's bytes, resuming a partial download, checking the SHA-256")
    .argument('<id>', 'the asset id')
    .option('--version <versionId>', 'a version other than the current one')
    .option(
      '-o, --output <file>',
      "where to write: a file, a folder to write into, or - for stdout (default: the asset's name, in this folder). " +
        'With -, a SHA-256 mismatch is known only once the bytes are out: it exits 1 and says so on stderr',
    )
    .option('--force', 'replace the file, and a .part file no download left, if they are there')
    .addHelpText('after', example('storage download 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69 -o portrait.png'))
    .action(async (id: string, opts: { version?: string; output?: string; force?: boolean }, command: Command) => {
      const ctx = ctxOf(command);
      const asset = await unwrap(ctx.client.GET('/api/v2/assets/{id}', { params: { path: { id } } }));
      const versionId = opts.version ?? asset.current_version_id;
      if (!versionId) throw new CliError(`asset ${id} has no content yet`);
      const version = await unwrap(ctx.client.GET('/api/v2/assets/{id}/versions/{version_id}', { params: { path: { id, version_id: versionId } } }));
      // It goes into the resume state and an If-Range: a server's answer is checked before it is used.
      if (!/^[0-9a-f]{64}$/.test(version.checksum_sha256)) throw new CliError(`the server gave no SHA-256 for version ${versionId}`);
      if (opts.output === '-') return toStdout(ctx, id, version);
      const output = outputOf(asset.name, opts.output);
      const summary = {
        asset_id: id,
        version_id: versionId,
        file: output,
        size_bytes: version.size_bytes,
        resumed_from: 0,
        checksum_sha256: version.checksum_sha256,
        verified: true,
      };
      const existing = fs.statSync(output, { throwIfNoEntry: false });
      if (existing && !opts.force) {
        // Only read: a file of the very bytes is left as it is, and the download is done.
        if (existing.isFile() && existing.size === version.size_bytes && (await sha256OfFile(output)) === version.checksum_sha256) {
          if (ctx.json) return ctx.printJson(summary);
          return ctx.say(`${output} (${bytes(version.size_bytes)}) is there already, SHA-256 verified`);
        }
        throw new CliError(`${output} is there already; --force replaces it`, EXIT.usage);
      }

      const part = `${output}.part`;
      const stateFile = downloadStateFileOf(part);
      // Another download of this file would write into the same part, and its bytes reach the file the first publishes.
      const release = takeRunLock(transferLockFileOf(stateFile), `download to ${output}`);
      try {
        const wanted: DownloadState = { asset_id: id, version_id: versionId, etag: `"${version.checksum_sha256}"`, size_bytes: version.size_bytes };
        const saved = readState<DownloadState>(stateFile);
        const partStat = fs.lstatSync(part, { throwIfNoEntry: false });
        let start = 0;
        if (partStat) {
          if (!partStat.isFile()) throw new CliError(`${part} is not a regular file; remove it first`, EXIT.usage);
          if (!saved && !opts.force) throw new CliError(`${part} is there, and no download left it; remove it, or --force replaces it`, EXIT.usage);
          const same = saved && (['asset_id', 'version_id', 'etag', 'size_bytes'] as const).every((k) => saved[k] === wanted[k]);
          if (same && partStat.size <= version.size_bytes) start = partStat.size;
          else if (saved) ctx.warn(`storage: ${part} holds bytes of another version (or of bytes since replaced); downloading anew`);
        }
        // Written before the part is: a part on disk always has the state that makes it the CLI's own.
        writeState(stateFile, wanted);

        const progress = progressOf(ctx.interactive);
        const bar = progress.bar(path.basename(output), version.size_bytes);
        try {
          if (start < version.size_bytes) {
            const response = await contentOf(ctx, id, version, start, wanted.etag);
            // A 200 to a Range request (If-Range no longer holds): the whole body, so the part is written anew.
            if (response.status !== 206) start = 0;
            bar.update(start);
            const { O_WRONLY, O_CREAT, O_EXCL, O_APPEND, O_TRUNC, O_NOFOLLOW } = fs.constants;
            // Never through a link left under the part's name; never over a part that appeared since it was looked at.
            const mode = start > 0 ? O_APPEND : partStat ? O_TRUNC : O_CREAT | O_EXCL;
            const fd = fs.openSync(part, O_WRONLY | O_NOFOLLOW | mode);
            await pipeline(Readable.fromWeb(response.body as ReadableStream), guard(version, start, bar), fs.createWriteStream('', { fd }));
          } else {
            bar.update(start);
          }
        } finally {
          progress.stop();
        }
        summary.resumed_from = start;
        summary.checksum_sha256 = await sha256OfFile(part);
        summary.verified = summary.checksum_sha256 === version.checksum_sha256;
        if (!summary.verified) {
          fs.rmSync(part, { force: true });
          clearState(stateFile);
          if (ctx.json) ctx.printJson(summary);
          throw new CliError(
            `${output}: the download's SHA-256 ${summary.checksum_sha256} differs from the version's ${version.checksum_sha256}; it was removed`,
          );
        }
        publish(part, output, Boolean(opts.force));
        clearState(stateFile);
        if (ctx.json) return ctx.printJson(summary);
        ctx.say(`${output} (${bytes(version.size_bytes)}${start > 0 ? `, resumed at ${bytes(start)}` : ''}), SHA-256 verified`);
      } finally {
        release();
      }
    });
}
