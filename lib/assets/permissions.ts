/**
 * Who may do what with an asset (issue 13). Its owner, a service and an admin may do everything; a
 * grant lets a user (or a user's group) read it, or also write it: new versions, metadata, soft
 * delete. Permanent deletion, restores and grants stay with the owner, services and admins.
 *
 * A caller who may not read an asset is told it does not exist (404): a 403 would reveal that someone
 * else's asset is there. A caller who may read it but not do more is refused (403).
 */
import type { Knex } from 'knex';
import { actsForAnyOwner, type Actor } from '../auth/actor';
import { ForbiddenError } from '../auth/errors';
import { NotFoundError } from '../platform/errors';
import { subjectsOf, type Grant } from './grants';
import { everyAssetSql, ownedOrGrantedSql } from './store';

/** What a caller may do with an asset, each level including the ones before it. */
export type AssetAccess = 'read' | 'write' | 'own';

const LEVEL: Record<AssetAccess, number> = { read: 1, write: 2, own: 3 };

/** The asset's grants that name `actor` or one of their groups. */
function grantsHeldBy(actor: Actor, asset: { grants: Grant[] }): Grant[] {
  const subjects = subjectsOf(actor);
  return asset.grants.filter((g) => subjects.includes(g.subject));
}

export function accessTo(actor: Actor, asset: { owner_id: string; grants: Grant[] }): AssetAccess | undefined {
  if (actsForAnyOwner(actor) || asset.owner_id === actor.sub) return 'own';
  const granted = grantsHeldBy(actor, asset);
  if (granted.some((g) => g.access === 'write')) return 'write';
  return granted.length ? 'read' : undefined;
}

/**
 * The grants `viewer` is shown: every one to whoever may change them (the owner, a service, an
 * admin); a grantee sees only those that reach them, not who else the asset is shared with.
 */
export function grantsSeenBy(viewer: Actor, asset: { owner_id: string; grants: Grant[] }): Grant[] {
  return accessTo(viewer, asset) === 'own' ? asset.grants : grantsHeldBy(viewer, asset);
}

/**
 * Why `actor` may read the asset, as a word that can be checked again without them: `any` (a service
 * or an admin), `owner:<sub>`, or the subject of the grant they hold. A signed URL carries it.
 */
export function readBasisOf(actor: Actor, asset: { owner_id: string; grants: Grant[] }): string | undefined {
  return basisOf(actor, asset, 'read');
}

/** Whether what `readBasisOf` answered still lets its holder read the asset. */
export function readBasisHolds(basis: string, asset: { owner_id: string; grants: Grant[] }): boolean {
  return basisHolds(basis, asset, 'read');
}

/**
 * Why `actor` may write the asset, in the same words: a new version's upload session records it, and
 * its commit checks it again (lib/uploads/sessionAccess.ts), since a run does not know its actor's groups.
 */
export function writeBasisOf(actor: Actor, asset: { owner_id: string; grants: Grant[] }): string | undefined {
  return basisOf(actor, asset, 'write');
}

/** Whether what `writeBasisOf` answered still lets its holder write the asset. */
export function writeBasisHolds(basis: string, asset: { owner_id: string; grants: Grant[] }): boolean {
  return basisHolds(basis, asset, 'write');
}

type GrantedAccess = Exclude<AssetAccess, 'own'>;

function basisOf(actor: Actor, asset: { owner_id: string; grants: Grant[] }, need: GrantedAccess): string | undefined {
  if (actsForAnyOwner(actor)) return 'any';
  if (asset.owner_id === actor.sub) return `owner:${actor.sub}`;
  return grantsHeldBy(actor, asset).find((g) => LEVEL[g.access] >= LEVEL[need])?.subject;
}

function basisHolds(basis: string, asset: { owner_id: string; grants: Grant[] }, need: GrantedAccess): boolean {
  if (basis === 'any') return true;
  if (basis.startsWith('owner:')) return asset.owner_id === basis.slice('owner:'.length);
  return asset.grants.some((g) => g.subject === basis && LEVEL[g.access] >= LEVEL[need]);
}

/** Throws unless `actor` may do what `need` names with the asset: 404 when they may not even read it. */
export function authorize(actor: Actor, asset: { id: string; owner_id: string; grants: Grant[] }, need: AssetAccess): void {
  const has = accessTo(actor, asset);
  if (!has) throw new NotFoundError(`asset ${asset.id} not found`);
  if (LEVEL[has] < LEVEL[need]) {
    throw new ForbiddenError(need === 'write' ? `asset ${asset.id} is shared with you to read only` : `only the owner of asset ${asset.id} may do this`);
  }
}

/** The asset a new version joins, and why its uploader may write it. */
export interface VersionTarget {
  id: string;
  writeBasis: string;
}

/** The asset as the target of `actor`'s new version: 404 or 403, as `authorize`, unless they may write it. */
export function versionTargetOf(actor: Actor, asset: { id: string; owner_id: string; grants: Grant[] }): VersionTarget {
  authorize(actor, asset, 'write');
  return { id: asset.id, writeBasis: writeBasisOf(actor, asset)! };
}

/**
 * The assets `actor` may read, as one SQL condition over `assets as a`: all of them for a service or
 * an admin; otherwise those they own or that are granted to them or to one of their groups. The
 * indexes on assets.owner_id and asset_grants.subject serve it, so a list filters in SQL and its
 * pages stay whole.
 */
export function readableBy(db: Knex, actor: Actor): Knex.Raw {
  if (actsForAnyOwner(actor)) return everyAssetSql(db);
  return ownedOrGrantedSql(db, actor.sub, subjectsOf(actor));
}

/**
 * Whom a new asset is for: the caller, or (for a service or an admin) the user named by `owner_id`.
 * A user may not make assets for someone else.
 */
export function ownerOfNewAsset(actor: Actor, requestedOwner: string | undefined): string {
  if (requestedOwner === undefined || requestedOwner === actor.sub) return actor.sub;
  if (!actsForAnyOwner(actor)) throw new ForbiddenError('only services and admins may make assets for another owner (owner_id)');
  return requestedOwner;
}
