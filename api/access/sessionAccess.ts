/**
 * Access to an upload session is access to its asset, checked on every request on it (issue 23), not
 * only when it opens. Beside being the caller's (or the caller acting for any owner), a session that is
 * open or finishing needs both the caller's write access to its asset and the basis it was opened with
 * still granting write (lib/uploads/sessionAccess.ts); a session that has ended needs read. A refusal
 * answers as the asset's own routes do: 404 when the caller can no longer read the asset, 403 when
 * they can only read it. An open session refused so is aborted at once, with the reason, so its
 * bytes go and its reservation is released; a finishing one is refused by its commit.
 */
import { accessTo, authorize } from '../../lib/assets/permissions';
import type { Actor } from '../../lib/auth/actor';
import { NotFoundError } from '../../lib/platform/errors';
import { abortUploadSession } from '../../lib/uploads/uploadRuns';
import { AccessRevokedError, revokedReason, sessionMayWrite } from '../../lib/uploads/sessionAccess';
import type { UploadSessionRow } from '../../lib/uploads/sessionRow';
import { getUploadSessionFor } from '../../lib/uploads/sessions';
import type { AppDeps } from '../deps';

const WRITING: ReadonlyArray<UploadSessionRow['status']> = ['open', 'completing'];

export interface SessionAccess {
  /**
   * The session `actor` asks for, once they may still use it. A request that would write (`writes`) to
   * a session ended by its lost access is answered as the asset's write routes would answer it.
   */
  sessionFor(actor: Actor, id: string, writes?: boolean): Promise<UploadSessionRow>;
  /** Runs `work`; a commit refused for revoked access is answered as `actor` now sees the asset. */
  answeringRevocation<T>(actor: Actor, assetId: string | null, work: () => Promise<T>): Promise<T>;
}

export function sessionAccessOf(deps: Pick<AppDeps, 'db' | 'assetCache' | 'uploads' | 'config'>): SessionAccess {
  const waitMs = deps.config.uploads.waitSeconds * 1000;

  /** The asset as the access checks read it, soft-deleted or not (a soft delete does not end sessions). */
  async function assetOf(assetId: string) {
    const found = await deps.assetCache.read(assetId);
    if (!found) throw new NotFoundError(`asset ${assetId} not found`);
    return found.row;
  }

  async function check(actor: Actor, session: UploadSessionRow, writes = false): Promise<void> {
    if (session.asset_id === null) return;
    const asset = await assetOf(session.asset_id);
    if (!WRITING.includes(session.status)) {
      if (writes && session.error === revokedReason(session)) authorize(actor, asset, 'write');
      return authorize(actor, asset, 'read');
    }
    const access = accessTo(actor, asset);
    if ((access === 'write' || access === 'own') && sessionMayWrite(session, asset)) return;
    const reason = revokedReason(session);
    // Not waiting for the expiry to remove the bytes. Should the abort not get through (Temporal
    // unreachable), the refusal stands all the same: the commit refuses too, and expiry ends it.
    if (session.status === 'open') await abortUploadSession(deps.uploads, session.id, waitMs, reason).catch(() => {});
    authorize(actor, asset, 'write');
    throw new AccessRevokedError(reason, { upload_id: session.id });
  }

  return {
    async sessionFor(actor, id, writes) {
      const session = await getUploadSessionFor(deps.db, actor, id);
      await check(actor, session, writes);
      return session;
    },
    async answeringRevocation(actor, assetId, work) {
      try {
        return await work();
      } catch (err) {
        if (err instanceof AccessRevokedError && assetId !== null) authorize(actor, await assetOf(assetId), 'write');
        throw err;
      }
    },
  };
}
