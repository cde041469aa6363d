/** Helpers for chunked-upload tests: sessions, parts and what the bucket holds. */
import { ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { call, type JsonAnswer } from './http';

const MiB = 1024 * 1024;
export const PART = 5 * MiB;

export interface SessionRequest {
  name?: string;
  size_bytes?: number;
  content_type?: string;
  checksum_sha256?: string;
  asset_id?: string;
  part_size_bytes?: number;
  metadata?: Record<string, string>;
  tags?: string[];
  [key: string]: unknown;
}

export function createUpload(baseUrl: string, body: SessionRequest): Promise<JsonAnswer> {
  return call(`${baseUrl}/api/v2/uploads`, { method: 'POST', json: body });
}

export function getUpload(baseUrl: string, id: string): Promise<JsonAnswer> {
  return call(`${baseUrl}/api/v2/uploads/${id}`);
}

export function putPart(baseUrl: string, id: string, n: number | string, bytes: Buffer, headers: Record<string, string> = {}): Promise<JsonAnswer> {
  return call(`${baseUrl}/api/v2/uploads/${id}/parts/${n}`, {
    method: 'PUT',
    body: bytes,
    headers: { 'content-type': 'application/octet-stream', ...headers },
  });
}

export function partUrl(baseUrl: string, id: string, n: number | string): Promise<JsonAnswer> {
  return call(`${baseUrl}/api/v2/uploads/${id}/parts/${n}/url`, { method: 'POST' });
}

export function completeUpload(baseUrl: string, id: string): Promise<JsonAnswer> {
  return call(`${baseUrl}/api/v2/uploads/${id}/complete`, { method: 'POST' });
}

export function abortUpload(baseUrl: string, id: string): Promise<JsonAnswer> {
  return call(`${baseUrl}/api/v2/uploads/${id}`, { method: 'DELETE' });
}

/** Part `n` (1-based) of `file` cut into `partSize` pieces. */
export function partOf(file: Buffer, n: number, partSize = PART): Buffer {
  return file.subarray((n - 1) * partSize, Math.min(file.length, n * partSize));
}

export function partCountOf(size: number, partSize = PART): number {
  return Math.max(1, Math.ceil(size / partSize));
}

/** Sends every part of `file` through the API, in order; fails loudly on the first refusal. */
export async function putAllParts(baseUrl: string, id: string, file: Buffer, partSize = PART): Promise<void> {
  for (let n = 1; n <= partCountOf(file.length, partSize); n++) {
    const res = await putPart(baseUrl, id, n, partOf(file, n, partSize));
    if (res.status !== 200) throw new Error(`part ${n}: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

/** Multipart uploads still open under `prefix` (an aborted or completed session leaves none). */
export async function openMultipartKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (page.Uploads ?? []).map((u) => u.Key!);
}
