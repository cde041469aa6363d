import { bearer } from './auth';
import { createHash, randomBytes } from 'node:crypto';
import { call, type JsonAnswer } from './http';

export function sha256(bytes: Buffer | Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function bytesOf(size: number): Buffer {
  return randomBytes(size);
}

export interface UploadFields {
  name?: string;
  content_type?: string;
  metadata?: string;
  tags?: string | string[];
  checksum_sha256?: string;
  owner_id?: string;
}

/** POSTs a multipart form the way a browser or curl -F would. */
export async function postForm(
  url: string,
  file: Buffer | null,
  fields: UploadFields = {},
  filename = 'file.bin',
  fileType = 'application/octet-stream',
): Promise<JsonAnswer> {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    for (const v of ([] as string[]).concat(value as string | string[])) form.append(key, v);
  }
  if (file) form.append('file', new Blob([file], { type: fileType }), filename);
  return call(url, { method: 'POST', body: form });
}

export async function uploadAsset(baseUrl: string, file: Buffer, fields: UploadFields = {}, filename = 'file.bin'): Promise<JsonAnswer> {
  return postForm(`${baseUrl}/api/v2/assets/upload`, file, fields, filename);
}

export async function download(url: string, headers: Record<string, string> = {}, as?: string | null) {
  const res = await fetch(url, { headers: { ...(as === null ? {} : await bearer(as)), ...headers } });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}
