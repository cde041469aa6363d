/**
 * Whether an upload session may still write the asset its version joins (issue 23). A session records
 * why its opener could write the asset when it opened (`write_basis`, lib/assets/permissions.ts
 * writeBasisOf): `any` (a service or an admin), `owner:<sub>`, or the subject of the write grant they
 * held, by name or through a group. The run knows its actor's subject and roles but not their groups,
 * so the basis, not the actor, is what is checked again. The session lasts as long as its basis grants
 * write: every request on it checks that (api/sessionAccess.ts), and so do the insert of its row and
 * its commit, each in its transaction, under the asset's row lock, which every change of grants
 * (lib/assets/grantChange.ts) and of owner (a backup restore) takes too: whichever commits first, the
 * other sees it. A refusal is final:
 * the session ends, its bytes go, and the grant given back does not bring it back.
 *
 * The lock order every writer follows is stated in lib/uploads/store.ts.
 */
import type { Knex } from 'knex';
import { writeBasisHolds, writeBasisOf } from '../assets/permissions';
import type { Grant } from '../assets/grants';
import { runActorOf, type AuditWriter } from '../audit/log';
import { ForbiddenError } from '../auth/errors';
import type { ActorRef } from '../../workflows/shared/actor';
import type { UploadSessionRow } from './sessionRow';
import { lockOpenStreamingSessionsOf, setSessionEnded, shareLockSession } from './store';
import { findAssetOwner, selectAssetGrants } from '../assets/store';

/** The session's opener may no longer write its asset: the session has ended for good. */
export class AccessRevokedError extends ForbiddenError {}

type SessionBasis = Pick<UploadSessionRow, 'asset_id' | 'write_basis' | 'actor'>;

/**
 * Whether the session may still write `asset`: always, for a new asset's. A session opened before
 * sessions recorded their basis is judged by its actor, without the groups its run never knew.
 */
export function sessionMayWrite(session: SessionBasis, asset: { owner_id: string; grants: Grant[] }): boolean {
  if (session.asset_id === null) return true;
  const basis = session.write_basis ?? writeBasisOf({ ...runActorOf(session), groups: [] }, asset);
  return basis !== undefined && writeBasisHolds(basis, asset);
}

/** Why the session ended: what its row, its run and the refused request say. */
export function revokedReason(session: Pick<UploadSessionRow, 'id' | 'asset_id' | 'write_basis'>): string {
  const basis = session.write_basis ? ` (${session.write_basis})` : '';
  return `access to asset ${session.asset_id} was revoked: what let upload ${session.id} write it${basis} no longer does`;
}

/**
 * In the insert of a new version's session, the asset's row share-locked: throws unless what let the
 * opener write the asset when the API checked it still does. A revocation that commits between that
 * check and this insert takes the asset's row too, so it is seen here, or waits until the session
 * exists (and the session's next request, and its commit, refuse it).
 */
export async function refuseRevokedOpen(
  trx: Knex.Transaction,
  input: { uploadId: string; assetId: string; writeBasis?: string; actor?: ActorRef },
  asset: { owner_id: string },
): Promise<void> {
  const grants = await selectAssetGrants(trx, input.assetId);
  const session = { id: input.uploadId, asset_id: input.assetId, write_basis: input.writeBasis ?? null, actor: input.actor ?? null };
  if (!sessionMayWrite(session, { owner_id: asset.owner_id, grants })) throw new AccessRevokedError(revokedReason(session), { upload_id: input.uploadId });
}

/**
 * In the commit's transaction, the asset's row already locked: the reason the session may no longer
 * write the asset, having ended it as failed (which releases its reservation) with an audit row of the
 * refusal; undefined when it may. A commit retried after its refusal finds it ended, and answers the
 * same reason without a second row.
 */
export async function refuseRevokedCommit(
  trx: Knex.Transaction,
  session: UploadSessionRow,
  asset: { id: string; owner_id: string },
  audit: AuditWriter,
): Promise<string | undefined> {
  if (session.status === 'failed') return session.error ?? revokedReason(session);
  const grants = await selectAssetGrants(trx, asset.id);
  if (sessionMayWrite(session, { owner_id: asset.owner_id, grants })) return undefined;
  const reason = revokedReason(session);
  await setSessionEnded(trx, session.id, 'failed', reason);
  await audit(trx, {
    actor: runActorOf(session),
    action: 'upload.commit',
    outcome: 'access_revoked',
    subjects: { asset_id: asset.id, upload_id: session.id },
    requestId: session.workflow_id,
  });
  return reason;
}

/** A session that ends when this grant change commits: the run is told after the commit, to drop its bytes. */
export interface EndedSession {
  id: string;
  reason: string;
}

/**
 * In a grant change's transaction, the asset's row locked by it: ends every open chunked or tus session
 * of a new version of the asset whose basis the change removes, failed with the reason (its reservation is
 * released by the same commit). From that commit on, no request of the session is acknowledged: a
 * streaming one is checked again before it records or answers (sessionStillWrites), and its bytes
 * go once the run is told (the caller signals it). A finishing session is its commit's to refuse.
 */
export async function endRevokedSessions(trx: Knex.Transaction, asset: { id: string; owner_id: string }, grants: Grant[]): Promise<EndedSession[]> {
  // A simple upload, a copy or a fetch is one request whose commit refuses it: only sessions that wait for more requests end here.
  const open = await lockOpenStreamingSessionsOf(trx, asset.id);
  const ended = open.filter((session) => !sessionMayWrite(session, { owner_id: asset.owner_id, grants }));
  for (const session of ended) {
    await setSessionEnded(trx, session.id, 'failed', revokedReason(session));
  }
  return ended.map((session) => ({ id: session.id, reason: revokedReason(session) }));
}

/**
 * Whether the session may still take bytes, asked in the transaction that records them (or just
 * before a part is acknowledged): its row share-locked, so a grant change that ends it either has
 * committed (and is seen here) or waits for this transaction to commit first. One whose expiry came
 * while the body streamed takes none: its run no longer takes its complete, and drops its bytes.
 */
export async function sessionStillWrites(trx: Knex.Transaction, sessionId: string): Promise<boolean> {
  const session = await shareLockSession(trx, sessionId);
  if (!session || session.status !== 'open' || Date.now() >= session.expires_at.getTime()) return false;
  if (session.asset_id === null) return true;
  const asset = await findAssetOwner(trx, session.asset_id);
  if (!asset) return false;
  const grants = await selectAssetGrants(trx, session.asset_id);
  return sessionMayWrite(session, { owner_id: asset.owner_id, grants });
}
