/** What an operation is sent with: the client's place in its schedule, the replica it talks to, its tokens, the world it targets. */
import { createHash } from 'node:crypto';
import type { History, UploadFacts } from './history';

/** Which asset each slot names now, and the versions acknowledged on each asset (for restores to pick from). */
export class World {
  readonly slotAssets: Array<string | undefined>;
  readonly versions = new Map<string, UploadFacts[]>();
  constructor(slots: number) {
    this.slotAssets = Array.from({ length: slots }, () => undefined);
  }
  noteVersion(assetId: string, facts: UploadFacts) {
    this.versions.set(assetId, [...(this.versions.get(assetId) ?? []), facts]);
  }
}

export interface OpContext {
  history: History;
  world: World;
  client: number;
  index: number;
  replica: number;
  baseUrl: string;
  ownerToken: string;
  adminToken: string;
  reader: string;
  partSize: number;
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function requestIdOf(ctx: Pick<OpContext, 'client' | 'index'>, step = ''): string {
  return `cc-${process.pid}-${ctx.client}-${ctx.index}${step}`;
}
