import { uuid4 } from '@temporalio/workflow';

/** A UUID v7 from the workflow's deterministic clock and random source (ids sort by time). */
export function uuidv7Now(): string {
  const hex = Date.now().toString(16).padStart(12, '0') + uuid4().replace(/-/g, '').slice(12);
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
