/** The search attributes of the runs the service starts: an operator finds a run by its operation, asset and actor. */
import type { SearchAttributePair } from '@temporalio/common';
import { SYSTEM_ACTOR_REF, type ActorRef } from './actor';

// The keys of lib/platform/temporal.ts, spelled out: that module is not workflow code.
export const storageOperation = (value: string): SearchAttributePair => ({ key: { name: 'StorageOperation', type: 'KEYWORD' }, value });
export const assetIdAttribute = (value: string): SearchAttributePair => ({ key: { name: 'AssetId', type: 'KEYWORD' }, value });
export const storageActor = (actor: ActorRef = SYSTEM_ACTOR_REF): SearchAttributePair => ({ key: { name: 'StorageActor', type: 'KEYWORD' }, value: actor.sub });
