/**
 * `storage download <id>`: the bytes of one version (the current one unless --version), checked
 * against the version's SHA-256. They are written to `<file>.<sha256 prefix>.part` beside the file,
 * resumed from there with Range when a run was cut short, and put under the file's name only once
 * complete and verified (a part that fails the check is removed, so that a run again starts clean).
 * A file that is there already is replaced only with --force (one of the very bytes is left as it is).
 */
import { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { problemOf } from '../client';
import { bytes, CliError, contextOf, example, unwrap, type Ctx } from './context';
import { localNameOf, printable } from './fileNames';
import { sha256OfFile } from './files';
import { progressOf } from './progress';

/** Where to write: -o as given (into it, when it is a folder), else the asset's name if it is a safe one. */
function outputOf(assetName: string, output: string | undefined): string {
  const intoFolder = output !== undefined && fs.statSync(output, { throwIfNoEntry: false })?.isDirectory();
  if (output !== undefined && !intoFolder) return output;
  const local = localNameOf(assetName);
  if ('refused' in local)
    throw new CliError(`the asset's name "${printable(assetName, /$^/)}" is not used as a file name: ${local.refused}; give one with -o <file>`);
  return path.join(output ?? '.', local.name);
}

function isRegularFile(file: string): boolean | undefined {
  return fs.lstatSync(file, { throwIfNoEntry: false })?.isFile();
}

/** Puts the verified part under its name: never over a file that appeared meanwhile, unless --force. */
function publish(part: string, output: string, force: boolean): void {
  if (force) return fs.renameSync(part, output);
  try {
    // A link fails if the name is taken, where a rename would replace what is there.
    fs.linkSync(part, output);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CliError(`${output} appeared while downloading; the download is kept as ${part} (--force replaces the file)`);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    // A file system without hard links.
    if (fs.existsSync(output)) throw new CliError(`${output} appeared while downloading; the download is kept as ${part} (--force replaces the file)`);
    return fs.renameSync(part, output);
  }
  fs.rmSync(part);
}

/** `ctxOf`: `storage pull` runs this command per file, with a context that keeps its --json for itself. */
export function downloadCommand(ctxOf: (command: Command) => Ctx = contextOf): Command {
  return new Command('download')
    .description("download an asset's bytes, resuming a partial download, checking the SHA-256")
    .argument('<id>', 'the asset id')
    .option('--version <versionId>', 'a version other than the current one')
    .option('-o, --output <file>', "where to write: a file, or a folder to write into (default: the asset's name, in this folder)")
    .option('--force', 'replace the file if it is there')
    .addHelpText('after', example('storage download 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69 -o portrait.png'))
    .action(async (id: string, opts: { version?: string; output?: string; force?: boolean }, command: Command) => {
      const ctx = ctxOf(command);
      const asset = await unwrap(ctx.client.GET('/api/v2/assets/{id}', { params: { path: { id } } }));
      const versionId = opts.version ?? asset.current_version_id;
      if (!versionId) throw new CliError(`asset ${id} has no content yet`);
      const version = await unwrap(ctx.client.GET('/api/v2/assets/{id}/versions/{version_id}', { params: { path: { id, version_id: versionId } } }));
      // It names the part file: a server's answer is checked before it becomes a path.
      if (!/^[0-9a-f]{64}$/.test(version.checksum_sha256)) throw new CliError(`the server gave no SHA-256 for version ${versionId}`);
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
        if (existing.isFile() && existing.size === version.size_bytes && (await sha256OfFile(output)) === version.checksum_sha256) {
          if (ctx.json) return ctx.printJson(summary);
          return ctx.say(`${output} (${bytes(version.size_bytes)}) is there already, SHA-256 verified`);
        }
        throw new CliError(`${output} is there already; --force replaces it`);
      }
      // Named after the content: a part is resumed only by a download of the same bytes.
      const part = `${output}.${version.checksum_sha256.slice(0, 16)}.part`;
      if (isRegularFile(part) === false) throw new CliError(`${part} is not a regular file; remove it first`);
      const have = fs.statSync(part, { throwIfNoEntry: false })?.size ?? 0;
      let start = have < version.size_bytes ? have : 0;
      const progress = progressOf(ctx.interactive);
      const bar = progress.bar(path.basename(output), version.size_bytes);
      try {
        if (have !== version.size_bytes) {
          const { response } = await ctx.client.GET('/api/v2/assets/{id}/versions/{version_id}/content', {
            params: { path: { id, version_id: versionId } },
            parseAs: 'stream',
            headers: start > 0 ? { range: `bytes=${start}-`, 'if-range': `"${version.checksum_sha256}"` } : {},
          });
          if (!response.ok) throw problemOf(response, await response.json().catch(() => undefined));
          // A 200 to a Range request: the server sends it all, so the part is written anew.
          if (response.status !== 206) start = 0;
          bar.update(start);
          let written = start;
          const counter = new Transform({
            transform(chunk: Buffer, _enc, done) {
              written += chunk.length;
              // A server that sends more than the version holds would fill the disk before the SHA-256 could say so.
              if (written > version.size_bytes) return done(new CliError(`the server sent more than the version's ${version.size_bytes} bytes`));
              bar.increment(chunk.length);
              done(null, chunk);
            },
          });
          const { O_WRONLY, O_CREAT, O_APPEND, O_TRUNC, O_NOFOLLOW } = fs.constants;
          // Never through a link someone left under the part's name.
          const fd = fs.openSync(part, O_WRONLY | O_CREAT | O_NOFOLLOW | (start > 0 ? O_APPEND : O_TRUNC));
          await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), counter, fs.createWriteStream('', { fd }));
        } else {
          bar.update(have);
        }
      } finally {
        progress.stop();
      }
      summary.resumed_from = start;
      summary.checksum_sha256 = await sha256OfFile(part);
      summary.verified = summary.checksum_sha256 === version.checksum_sha256;
      if (!summary.verified) {
        fs.rmSync(part, { force: true });
        if (ctx.json) ctx.printJson(summary);
        throw new CliError(
          `${output}: the download's SHA-256 ${summary.checksum_sha256} differs from the version's ${version.checksum_sha256}; it was removed`,
        );
      }
      publish(part, output, Boolean(opts.force));
      if (ctx.json) return ctx.printJson(summary);
      ctx.say(`${output} (${bytes(version.size_bytes)}${start > 0 ? `, resumed at ${bytes(start)}` : ''}), SHA-256 verified`);
    });
}
