import { createHash, randomBytes } from 'node:crypto';

/** A UUID v7 (RFC 9562): time-ordered, so new rows land at the end of their indexes. */
export function uuidv7(now: number = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  return formatUuid(bytes);
}

/**
 * A UUID (version 8, RFC 9562) derived from a name: the same incoming event always maps to the same
 * upload, backup or run id, so a repeated delivery joins the work the first one started.
 */
export function uuidFromName(name: string): string {
  const bytes = createHash('sha256').update(name).digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x80;
  return formatUuid(bytes);
}

/** Sets the RFC 9562 variant bits and writes the 16 bytes in the 8-4-4-4-12 form. */
function formatUuid(bytes: Buffer): string {
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// Spelled out rather than with the `i` flag: the OpenAPI document carries the source alone, without flags.
export const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
