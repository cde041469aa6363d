/**
 * Where an interrupted chunked upload is remembered: one small JSON file per (server, file, size,
 * mtime, target asset) under $XDG_CACHE_HOME/storage-cli/uploads (or ~/.cache), written when the
 * session opens and removed when it completes. Run again on the same file, the upload resumes. It
 * holds the session's id, the file's SHA-256 and size: never the token.
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

export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'storage-cli', 'uploads');
}

export function stateFileOf(api: string, file: string, stat: fs.Stats, assetId: string | undefined): string {
  const key = createHash('sha256')
    .update(JSON.stringify([api, path.resolve(file), stat.size, stat.mtimeMs, assetId ?? null]))
    .digest('hex')
    .slice(0, 32);
  return path.join(cacheDir(), `${key}.json`);
}

export function readState(file: string): UploadState | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as UploadState;
  } catch {
    return undefined;
  }
}

/** Readable by its user alone (0600 in a 0700 folder): other users of the machine learn nothing of what is uploaded. */
export function writeState(file: string, state: UploadState): void {
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
