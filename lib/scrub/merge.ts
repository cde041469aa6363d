/**
 * The merge of one page of the asset bucket's listing with the catalog's versions over the same keys:
 * both sorted in byte order (S3's, and PostgreSQL's COLLATE "C"), neither held whole. Pure.
 */

export interface ListedObject {
  key: string;
  lastModified: Date;
  etag?: string;
  sizeBytes: number;
}

export interface PageMerge<V extends { object_key: string }> {
  /** Objects no version names. */
  unowned: ListedObject[];
  /** Versions whose key the listing lacks. */
  missing: V[];
  /** Versions whose object was listed. */
  present: Array<{ version: V; object: ListedObject }>;
  /** The key the page ends at: the next page starts after it (null: nothing was covered). */
  upTo: string | null;
}

/** Byte order of two keys (as S3 lists them): not localeCompare. */
export function compareKeys(a: string, b: string): number {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return Buffer.compare(x, y);
}

/**
 * `listed`: a page of the listing after the cursor (`listingEnded`: nothing follows it); `versions`:
 * the versions after the cursor up to the page's last key (all of them when the listing ended), at
 * most `versionLimit` (a full page means more may follow: the page then ends at the last version's
 * key, and listed keys past it wait for the next page).
 */
export function mergePage<V extends { object_key: string }>(listed: ListedObject[], listingEnded: boolean, versions: V[], versionLimit: number): PageMerge<V> {
  let upTo: string | null = listingEnded ? null : (listed[listed.length - 1]?.key ?? null);
  if (versions.length >= versionLimit) {
    const lastVersion = versions[versions.length - 1].object_key;
    if (upTo === null || compareKeys(lastVersion, upTo) < 0) upTo = lastVersion;
  }
  const within = (key: string) => upTo === null || compareKeys(key, upTo) <= 0;
  const objects = listed.filter((o) => within(o.key));
  const rows = versions.filter((v) => within(v.object_key));
  const merge: PageMerge<V> = { unowned: [], missing: [], present: [], upTo };
  let i = 0;
  let j = 0;
  while (i < objects.length || j < rows.length) {
    const order = i >= objects.length ? 1 : j >= rows.length ? -1 : compareKeys(objects[i].key, rows[j].object_key);
    if (order < 0) {
      merge.unowned.push(objects[i++]);
    } else if (order > 0) {
      merge.missing.push(rows[j++]);
    } else {
      const object = objects[i];
      // Several versions may name one key: each is present.
      while (j < rows.length && rows[j].object_key === object.key) merge.present.push({ version: rows[j++], object });
      i++;
    }
  }
  if (merge.upTo === null) {
    const last = [objects[objects.length - 1]?.key, rows[rows.length - 1]?.object_key].filter((k): k is string => k !== undefined).sort(compareKeys);
    merge.upTo = last[last.length - 1] ?? null;
  }
  return merge;
}
