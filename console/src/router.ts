/**
 * The console's paths: every view has a path under /console (the API answers each with the same page),
 * so the back button, a reload and a shared link all work. Paths change with the History API.
 */
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/console';

const listeners = new Set<() => void>();
window.addEventListener('popstate', () => listeners.forEach((listener) => listener()));

/** Goes to a console path (`/assets/<id>`, with its query if any). */
export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const url = BASE + (to === '/' ? '' : to);
  if (opts.replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  listeners.forEach((listener) => listener());
  window.scrollTo(0, 0);
}

export interface Location {
  /** The path under /console: `/`, `/assets/<id>`, ... */
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) || '/' : '/';
  return { path: path.length > 1 ? path.replace(/\/+$/, '') : path, query: new URLSearchParams(location.search) };
}

export function useLocation(): Location {
  const [where, setWhere] = useState(current);
  useEffect(() => {
    const listener = () => setWhere(current());
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return where;
}

/** Matches `/assets/:id` against a path: the parameters, or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const names: string[] = [];
  const regex = new RegExp(`^${pattern.replace(/:([a-z_]+)/g, (_, name: string) => (names.push(name), '([^/]+)'))}$`);
  const found = regex.exec(path);
  if (!found) return null;
  return Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(found[i + 1])]));
}

/** An `<a>` of a console path: a normal link (open in a new tab works), followed in the page on a plain click. */
export function hrefOf(to: string): string {
  return BASE + (to === '/' ? '' : to);
}

export function followLink(event: MouseEvent, to: string): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(to);
}
