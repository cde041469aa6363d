import { createHash } from 'node:crypto';
import fs from 'node:fs';

/** The lowercase hex SHA-256 of a file, or of its first `length` bytes. */
export async function sha256OfFile(file: string, length?: number): Promise<string> {
  const hash = createHash('sha256');
  if (length === 0) return hash.digest('hex');
  for await (const chunk of fs.createReadStream(file, length === undefined ? {} : { end: length - 1 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads `length` bytes at `position`. */
export async function readRange(handle: fs.promises.FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new Error('the file shrank while it was read');
    done += bytesRead;
  }
  return buffer;
}
