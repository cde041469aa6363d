/**
 * What the run did and what it was told: every operation a client sent (its answer, or the error that
 * took its place) and every fault injected, in the order they began. The invariants are judged
 * against this record only, and a violation prints the part of it around the asset concerned.
 */
export type Outcome = 'ok' | 'refused' | 'unknown';

/** An upload's bytes as the client sent them, and what the service said it made of them. */
export interface UploadFacts {
  sha256: string;
  size: number;
  /** The name the upload gives the asset (a commit sets the asset's name to its version's). */
  name?: string;
  uploadId?: string;
  versionId?: string;
  assetId?: string;
}

export interface Entry {
  seq: number;
  client: number;
  /** The operation's index in its client's schedule (or the fault's in the fault schedule). */
  index: number;
  kind: string;
  slot?: number;
  assetId?: string;
  requestId?: string;
  replica?: number;
  start: number;
  end: number;
  /** The HTTP status of the answer that decided the outcome; 0 when none came. */
  status: number;
  outcome: Outcome;
  /** For the operations that set a field: the value they set (a name, the grants, deleted or not). */
  value?: string;
  upload?: UploadFacts;
  note?: string;
}

/** 2xx: done; 4xx (but a timeout or a budget): refused, changing nothing; anything else: it may or may not have happened. */
export function outcomeOf(status: number): Outcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return 'refused';
  return 'unknown';
}

export class History {
  readonly entries: Entry[] = [];
  readonly startedAt = Date.now();

  begin(fields: Omit<Entry, 'seq' | 'start' | 'end' | 'status' | 'outcome'>): Entry {
    const entry: Entry = { ...fields, seq: this.entries.length, start: Date.now(), end: 0, status: 0, outcome: 'unknown' };
    this.entries.push(entry);
    return entry;
  }

  end(entry: Entry, status: number, note?: string): Entry {
    entry.end = Date.now();
    entry.status = status;
    entry.outcome = outcomeOf(status);
    if (note) entry.note = note.slice(0, 300);
    return entry;
  }

  /**
   * The story of `assetId` as lines to print: its last `count` entries, and the faults injected while
   * they ran; an asset no entry names (an orphaned object's) gets the faults only.
   */
  around(assetId: string | undefined, count = 25): string {
    const own = this.entries.filter((e) => assetId !== undefined && (e.assetId === assetId || e.upload?.assetId === assetId)).slice(-count);
    const from = own[0]?.start ?? 0;
    const to = own.length ? Math.max(...own.map((e) => e.end || Date.now())) : Date.now();
    const faults = this.entries.filter((e) => e.kind.startsWith('fault') && e.start <= to && (e.end || Date.now()) >= from);
    return [...own, ...faults]
      .sort((a, b) => a.seq - b.seq)
      .map((e) => this.line(e))
      .join('\n');
  }

  line(e: Entry): string {
    const t = (ms: number) => ((ms - this.startedAt) / 1000).toFixed(2);
    const who = e.kind.startsWith('fault') ? 'faults' : `client ${e.client} op ${e.index}`;
    const facts = [e.assetId && `asset ${e.assetId}`, e.value !== undefined && `value ${e.value}`, e.upload && `upload ${JSON.stringify(e.upload)}`, e.note]
      .filter(Boolean)
      .join(' ');
    return `  #${e.seq} [${t(e.start)}s..${e.end ? t(e.end) : '?'}s] ${who} ${e.kind} slot=${e.slot ?? '-'} replica=${e.replica ?? '-'} rid=${e.requestId ?? '-'} -> ${e.status} ${e.outcome} ${facts}`;
  }

  counts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const e of this.entries) counts[`${e.kind}:${e.outcome}`] = (counts[`${e.kind}:${e.outcome}`] ?? 0) + 1;
    return counts;
  }
}
