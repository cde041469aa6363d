/**
 * Who is signed in: a bearer token kept in this tab's session storage (gone when the tab closes), and
 * what its claims say, read for display and to pick the views; the API verifies the token on every request.
 *
 * A token arrives one of three ways: in the URL's fragment (`/console#token=...`, the link `npm start`
 * prints: a fragment is never sent to a server, and it is removed from the address bar at once), from
 * the application that embeds the console (a `postMessage` from one of STORAGE_CORS_ORIGINS), or pasted.
 */
import type { ConsoleSettings } from './settings';

const STORAGE_KEY = 'storage-console.token';
/** The message an embedding application posts: `{ type: 'storage-console:token', token }`. */
export const EMBEDDING_MESSAGE = 'storage-console:token';

export interface Session {
  token: string;
  sub: string;
  roles: string[];
  groups: string[];
  /** null: the token says no expiry. */
  expiresAt: Date | null;
  isAdmin: boolean;
  /** Where the token came from, shown on the sign-in page when it no longer works. */
  source: 'link' | 'embedding' | 'pasted';
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

function claimsOf(token: string): Record<string, unknown> | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(
      payload
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(payload.length / 4) * 4, '='),
    );
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as unknown;
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The session of a token, or a reason it cannot be one (not a JWT, no subject, expired). */
export function sessionOf(token: string, settings: ConsoleSettings, source: Session['source']): Session | string {
  const trimmed = token.trim().replace(/^Bearer\s+/i, '');
  const claims = claimsOf(trimmed);
  if (!claims) return 'That is not a token: a token is three parts separated by dots (a JWT).';
  if (typeof claims.sub !== 'string' || claims.sub === '') return 'That token names no one (it has no sub claim).';
  const expiresAt = typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null;
  if (expiresAt && expiresAt.getTime() <= Date.now()) return `That token expired at ${expiresAt.toLocaleString()}.`;
  const roles = strings(claims[settings.rolesClaim]);
  return { token: trimmed, sub: claims.sub, roles, groups: strings(claims[settings.groupsClaim]), expiresAt, isAdmin: roles.includes('storage:admin'), source };
}

/** The session this tab kept, if its token still serves. */
export function storedSession(settings: ConsoleSettings): Session | null {
  const kept = keptSession(settings);
  return typeof kept === 'string' ? null : kept;
}

/** The session this tab kept; a string says why its token no longer serves (it expired since). */
export function keptSession(settings: ConsoleSettings): Session | string | null {
  const stored = sessionStorage.getItem(STORAGE_KEY);
  if (!stored) return null;
  try {
    const { token, source } = JSON.parse(stored) as { token: string; source: Session['source'] };
    return sessionOf(token, settings, source);
  } catch {
    return null;
  }
}

export function keepSession(session: Session): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ token: session.token, source: session.source }));
}

export function forgetSession(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** A token in the fragment (`#token=...`), taken out of the address bar so that it is not bookmarked or shared. */
export function takeTokenFromFragment(): string | null {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const token = params.get('token');
  if (token === null) return null;
  history.replaceState(history.state, '', location.pathname + location.search);
  return token;
}

/** Calls `onToken` with each token an embedding application posts; returns the function that stops listening. */
export function listenForEmbeddingToken(settings: ConsoleSettings, onToken: (token: string) => void): () => void {
  const listener = (event: MessageEvent) => {
    if (!settings.embeddingOrigins.includes(event.origin)) return;
    const data = event.data as { type?: unknown; token?: unknown } | null;
    if (data?.type === EMBEDDING_MESSAGE && typeof data.token === 'string') onToken(data.token);
  };
  window.addEventListener('message', listener);
  return () => window.removeEventListener('message', listener);
}
