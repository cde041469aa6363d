/** What a restore drill checks of a sampled asset's manifest lines before any byte (lib/drills/checks.ts). */
import { objectKeyFor } from '../../lib/assets/keys';
import { checkAssetLines } from '../../lib/drills/checks';
import type { ManifestLine } from '../../lib/backups/manifest';

const assetId = '0190c6d2-5d00-7944-8d55-5e6f708192a3';
const versionId = '0190c6d2-5e00-7955-8e66-6f708192a3b4';
const otherId = '0190c6d2-5f00-7966-8f77-708192a3b4c5';

const asset = (fields: Record<string, unknown> = {}) => ({ type: 'asset', id: assetId, name: 'map.png', current_version_id: versionId, ...fields });
const version = (fields: Record<string, unknown> = {}) => ({
  type: 'version',
  id: versionId,
  asset_id: assetId,
  version_number: 1,
  object_key: objectKeyFor(assetId, versionId),
  size_bytes: 10,
  content_type: 'image/png',
  checksum_sha256: 'a'.repeat(64),
  ...fields,
});
const check = (...lines: Array<Record<string, unknown>>) => checkAssetLines(assetId, lines as unknown as ManifestLine[]);

it('answers the versions of lines that parse and agree, and no failure', () => {
  const { versions, failures } = check(asset(), version());
  expect(failures).toEqual([]);
  expect(versions.map((v) => v.id)).toEqual([versionId]);
});

it('names the asset and version of each line that does not parse or does not agree', () => {
  expect(check(asset({ id: 'nope' })).failures).toEqual([{ asset_id: assetId, version_id: null, reason: expect.stringContaining('asset line') }]);
  expect(check(asset(), version({ checksum_sha256: 'XYZ' })).failures).toEqual([
    { asset_id: assetId, version_id: versionId, reason: expect.stringContaining('checksum_sha256') },
  ]);
  expect(check(asset(), version({ asset_id: otherId })).failures).toEqual([
    { asset_id: assetId, version_id: versionId, reason: expect.stringContaining(`names asset ${otherId}`) },
  ]);
  expect(check(asset(), version({ object_key: objectKeyFor(otherId, versionId) })).failures).toEqual([
    { asset_id: assetId, version_id: versionId, reason: expect.stringContaining('not its own') },
  ]);
  const noCurrent = check(asset({ current_version_id: otherId }), version());
  expect(noCurrent.failures).toEqual([{ asset_id: assetId, version_id: otherId, reason: expect.stringContaining('current version') }]);
  expect(noCurrent.versions).toHaveLength(1);
});
