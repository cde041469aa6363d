/** Where a version's bytes live in the asset bucket. The key never contains a client-given name. */
export function objectKeyFor(assetId: string, versionId: string): string {
  return `assets/${assetId}/${versionId}`;
}

/** Every object of an asset shares this prefix. */
export function assetKeyPrefix(assetId: string): string {
  return `assets/${assetId}/`;
}
