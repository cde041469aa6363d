/**
 * The drill's sample: a uniform random choice of a backup's assets, made while the manifest streams
 * by (reservoir sampling, Algorithm R), so the manifest is never held whole: at most `maxAssets`
 * entries are kept at any time. Of those, in random order, as many are taken as fit `maxBytes` (the
 * first always, so a backup of one large asset is still drilled), then put back in manifest order so
 * the checks read the manifest forward.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { readManifestLines, type VersionLine } from '../backups/manifest';
import type { DrillSampleEntry } from './store';

export interface SampleLimits {
  maxAssets: number;
  maxBytes: number;
}

/** Keeps a uniform sample of `size` of the items offered one by one. */
export class Reservoir<T> {
  readonly kept: T[] = [];
  private seen = 0;

  constructor(
    private readonly size: number,
    private readonly random: () => number = Math.random,
  ) {}

  offer(item: T): void {
    this.seen += 1;
    if (this.kept.length < this.size) {
      this.kept.push(item);
      return;
    }
    const j = Math.floor(this.random() * this.seen);
    if (j < this.size) this.kept[j] = item;
  }
}

/** The reservoir's entries, in random order, while they fit the byte budget; then in manifest order. */
export function withinBudget(entries: DrillSampleEntry[], maxBytes: number, random: () => number = Math.random): DrillSampleEntry[] {
  const shuffled = [...entries];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  const taken: DrillSampleEntry[] = [];
  let bytes = 0;
  for (const e of shuffled) {
    if (taken.length > 0 && bytes + e.bytes > maxBytes) break;
    taken.push(e);
    bytes += e.bytes;
  }
  return taken.sort((a, b) => a.start - b.start);
}

/**
 * Streams the manifest's asset section from `assetsOffset` and answers the sample. Each asset's group
 * is its line and the version lines after it; the section ends at the first line of another type.
 */
export async function sampleManifest(
  s3: S3Client,
  manifest: { bucket: string; key: string; sizeBytes: number },
  assetsOffset: number,
  limits: SampleLimits,
  signal?: AbortSignal,
  onLine: () => void = () => {},
): Promise<DrillSampleEntry[]> {
  const reservoir = new Reservoir<DrillSampleEntry>(limits.maxAssets);
  let open: DrillSampleEntry | undefined;
  for await (const read of readManifestLines(s3, manifest, assetsOffset, signal)) {
    onLine();
    const { line } = read;
    if (line.type === 'header') continue;
    if (line.type === 'version' && open) {
      open.bytes += Number((line as VersionLine).size_bytes) || 0;
      open.end = read.end;
      continue;
    }
    if (open) reservoir.offer(open);
    open = undefined;
    if (line.type !== 'asset') break;
    open = { asset_id: String((line as { id?: unknown }).id), start: read.start, end: read.end, bytes: 0 };
  }
  if (open) reservoir.offer(open);
  return withinBudget(reservoir.kept, limits.maxBytes);
}
