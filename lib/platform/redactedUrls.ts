/**
 * URLs as they may be written where others read them (logs, errors, a run's status): a query's
 * values, a fragment and credentials may be secrets (a signed URL's signature, a source's token), so
 * a query is shown by its parameter names alone (`?sig=…&expires=…` is `?sig&expires`), and
 * credentials and fragment not at all.
 */

// A parameter name of another shape could itself be a value (`?<token>`): it is not written either.
const PARAMETER_NAME = /^[\w.[\]-]{1,64}$/;

/** A path with its query (`/a?sig=x`), the query by its names alone. */
export function redactedPathAndQuery(pathAndQuery: string): string {
  const at = pathAndQuery.indexOf('?');
  if (at < 0) return pathAndQuery;
  const names = pathAndQuery
    .slice(at + 1)
    .split('&')
    .filter(Boolean)
    .map((pair) => pair.split('=')[0])
    .map((name) => (PARAMETER_NAME.test(name) ? name : '_'));
  return `${pathAndQuery.slice(0, at)}?${names.join('&')}`;
}

/** An absolute URL without its credentials and fragment, its query by names alone. */
export function redactedUrl(url: URL): string {
  return `${url.protocol}//${url.host}${redactedPathAndQuery(url.pathname + url.search)}`;
}
