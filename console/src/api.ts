/**
 * The API as the console calls it: the project's typed client (client/), same origin, with the session's
 * token. An answer of 401 ends the session, so that the user lands on the sign-in page, not on a blank one.
 */
import { createStorageClient, type StorageClient } from '../../client';
import type { Session } from './session';

export { followOperation, StorageProblem, unwrap } from '../../client';
export type { components } from '../../client';
export type Api = StorageClient;

export function apiOf(session: Session, onUnauthorized: () => void): Api {
  const signingOutFetch: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (res.status === 401) onUnauthorized();
    return res;
  };
  return createStorageClient({ baseUrl: location.origin, token: session.token, fetch: signingOutFetch, retries: 2 });
}

/** Headers for a request made outside the typed client (tus through Uppy, a download). */
export function bearerOf(session: Session): Record<string, string> {
  return { Authorization: `Bearer ${session.token}` };
}
