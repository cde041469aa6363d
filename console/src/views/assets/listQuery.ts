/**
 * The asset list's state lives in the address's query (filters, page, view, page size), so a reload,
 * the back button and a shared link show the same list.
 */
import { navigate } from '../../router';

export type ListView = 'grid' | 'table';
export const PAGE_SIZES = [50, 200, 1000] as const;
/** The API's largest page (api/schemas/common.ts MAX_PAGE_LIMIT). */
const MAX_LIMIT = 1000;

export interface ListQuery {
  name: string;
  tag: string;
  type: string;
  owner: string;
  view: ListView;
  limit: number;
  cursor: string;
}

export function listQueryOf(query: URLSearchParams): ListQuery {
  const limit = Number(query.get('limit'));
  return {
    name: query.get('name') ?? '',
    tag: query.get('tag') ?? '',
    type: query.get('type') ?? '',
    owner: query.get('owner') ?? '',
    view: query.get('view') === 'table' ? 'table' : 'grid',
    // The select offers PAGE_SIZES; an address may ask for any size the API takes.
    limit: Number.isInteger(limit) && limit >= 1 && limit <= MAX_LIMIT ? limit : PAGE_SIZES[0],
    cursor: query.get('cursor') ?? '',
  };
}

/** Goes to the list as `next` says, at `path` (`/` or `/assets`); defaults are left out of the address. */
export function showList(path: string, next: ListQuery, opts: { replace?: boolean } = {}): void {
  const params = new URLSearchParams();
  if (next.name) params.set('name', next.name);
  if (next.tag) params.set('tag', next.tag);
  if (next.type) params.set('type', next.type);
  if (next.owner) params.set('owner', next.owner);
  if (next.view !== 'grid') params.set('view', next.view);
  if (next.limit !== PAGE_SIZES[0]) params.set('limit', String(next.limit));
  if (next.cursor) params.set('cursor', next.cursor);
  const qs = params.toString();
  // navigate() prefixes /console: the list at the root is '' (so /console?..., not /console/?...).
  navigate(`${path === '/' ? '' : path}${qs ? `?${qs}` : ''}` || '/', opts);
}
