/**
 * The whole file's SHA-256, computed as its bytes stream through the API, part after part: a tus
 * upload's PATCHes, and a chunked session's parts sent one after another. Node's hash cannot be
 * saved; hash-wasm's can (116 bytes), so the state is kept in PostgreSQL at each part boundary, and
 * a part taken by another API process goes on from it. The finish then needs no read-back of the
 * object, when the store confirms that every part holds the bytes hashed: S3's part ETag is the MD5
 * of the part's body, which is computed beside it.
 */
import { createSHA256, type IHasher } from 'hash-wasm';
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export async function sha256From(state: Buffer | null): Promise<IHasher> {
  const hasher = await createSHA256();
  if (state) hasher.load(state);
  else hasher.init();
  return hasher;
}

/** A pass-through that goes on with `sha256` and hashes the part's MD5, for its ETag. */
export function partHashTap(sha256: IHasher) {
  const md5 = createHash('md5');
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sha256.update(chunk);
      md5.update(chunk);
      done(null, chunk);
    },
  });
  return { stream, etag: () => `"${md5.digest('hex')}"` };
}

/** The saved state, to go on from; its digest, once every byte is in. */
export const saveState = (hasher: IHasher): Buffer => Buffer.from(hasher.save());

export async function digestOf(state: Buffer): Promise<string> {
  return (await sha256From(state)).digest('hex');
}

/**
 * The ETag S3 gives an object assembled from parts with these ETags, in this order: the MD5 of
 * their MD5s, then `-N`. The store's own ETag for the object names exactly the parts it assembled
 * (a part sent again with other bytes, even by a presigned URL, changes it).
 */
export function multipartEtag(partEtags: string[]): string {
  const md5 = createHash('md5');
  for (const etag of partEtags) md5.update(Buffer.from(etag.replace(/"/g, ''), 'hex'));
  return `"${md5.digest('hex')}-${partEtags.length}"`;
}
