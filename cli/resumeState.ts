/**
 * Where an interrupted transfer is remembered, one small JSON file each under
 * $XDG_CACHE_HOME/storage-cli (or ~/.cache):
 * - a chunked upload, per (server, file, size, mtime, target asset), under uploads/: written when the
 *   session opens and removed when it completes; it holds the session's id, the file's SHA-256 and size;
 * - a download, per part file, under downloads/: written before its `<target>.part` is
 *   created and removed once the part is verified and in place. It names the asset, version and ETag
 *   the part holds bytes of: a part is resumed only by a download of those, and a part without one is
 *   not the CLI's to write over;
 * - under locks/, a lock per download's part, per chunked upload's state and per synced folder
 *   (cli/runLock.ts), held while the run is.
 * Run again, the transfer resumes. Never the token.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface UploadState {
  upload_id: string;
  checksum_sha256: string;
  size_bytes: number;
}

export interface DownloadState {
  asset_id: string;
  version_id: string;
  /** The version's content ETag (its quoted SHA-256), sent as If-Range when the part is resumed. */
  etag: string;
  size_bytes: number;
}

export function cacheDir(kind: 'uploads' | 'downloads' | 'locks' = 'uploads'): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'storage-cli', kind);
}

export function stateFileOf(api: string, file: string, stat: fs.Stats, assetId: string | undefined): string {
  const key = createHash('sha256')
    .update(JSON.stringify([api, path.resolve(file), stat.size, stat.mtimeMs, assetId ?? null]))
    .digest('hex')
    .slice(0, 32);
  return path.join(cacheDir(), `${key}.json`);
}

/** Of the part alone, not the server: the asset, version and ETag it holds say whose bytes they are. */
export function downloadStateFileOf(part: string): string {
  const key = createHash('sha256').update(path.resolve(part)).digest('hex').slice(0, 32);
  return path.join(cacheDir('downloads'), `${key}.json`);
}

/** The lock a sync of `folder` holds while it runs (cli/runLock.ts): of the folder alone, whatever server it goes to. */
export function syncLockFileOf(folder: string): string {
  const key = createHash('sha256').update(path.resolve(folder)).digest('hex').slice(0, 32);
  return path.join(cacheDir('locks'), `sync-${key}.lock`);
}

/** The lock a transfer holds while it writes `stateFile` (cli/runLock.ts): apart from the states, which are read as a folder of them. */
export function transferLockFileOf(stateFile: string): string {
  return path.join(cacheDir('locks'), `${path.basename(path.dirname(stateFile))}-${path.basename(stateFile, '.json')}.lock`);
}

export function readState<T = UploadState>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Readable by its user alone (0600 in a 0700 folder): other users of the machine learn nothing of what is uploaded. */
export function writeState(file: string, state: UploadState | DownloadState): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  // Created anew, so that its mode is ours whatever an earlier run left.
  fs.rmSync(`${file}.tmp`, { force: true });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(state), { mode: 0o600, flag: 'wx' });
  fs.renameSync(`${file}.tmp`, file);
}

export function clearState(file: string): void {
  fs.rmSync(file, { force: true });
}
