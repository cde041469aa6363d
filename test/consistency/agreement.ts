/** The invariants that compare views: the audit trail with the answers, the API (and its cache) with the catalog, the catalog's fields with the history. */
import { send } from './http';
import { assetRows, type CheckDeps, type Violation } from './invariants';
import { possibleValuesOf } from './model';
import { query } from './quiet';

const NOT_CHANGES = new Set(['read', 'lifecycle']);

/** Every change the service acknowledged (2xx but 202, whose change is its workflow's to record) has its audit row, found by its request id. */
export async function everyChangeAudited(deps: CheckDeps): Promise<Violation[]> {
  const changes = deps.history.entries.filter((e) => e.client >= 0 && e.outcome === 'ok' && e.status !== 202 && !NOT_CHANGES.has(e.kind) && e.requestId);
  const found = await query<{ request_id: string }>(deps.ctx, 'SELECT DISTINCT request_id FROM audit_log WHERE request_id = ANY($1)', [
    changes.map((e) => e.requestId),
  ]);
  const audited = new Set(found.map((r) => r.request_id));
  return changes
    .filter((e) => !audited.has(e.requestId!))
    .map((e) => ({
      invariant: 'every change has its audit row',
      assetId: e.assetId,
      message: `${e.kind} ${e.requestId} answered ${e.status}, and no audit row has its request id`,
    }));
}

const FIELDS = ['name', 'is_deleted', 'current_version_id', 'version_count', 'checksum_sha256'] as const;

/**
 * Each replica answers each asset twice as the catalog holds it (its owner, deleted ones included),
 * its ETag the row's revision; and the reader is let in exactly when the catalog grants them and the
 * asset is live (a cached grant outliving its revocation shows here).
 */
export async function apiAgreesWithCatalog(deps: CheckDeps): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const asset of (await assetRows(deps.ctx)).values()) {
    const readerMayRead = !asset.is_deleted && asset.grants.some((g) => g.subject === `user:${deps.reader}`);
    for (const [replica, api] of deps.cluster.apis.entries()) {
      for (const attempt of [1, 2]) {
        const owner = await send(
          `${api.url}/api/v2/assets/${asset.id}?include_deleted=true`,
          deps.tokenOf(asset.owner_id),
          `cc-check-${asset.id}-${replica}-${attempt}`,
        );
        const differs = FIELDS.filter((f) => String(owner.body?.[f]) !== String(asset[f]));
        if (owner.status !== 200 || differs.length) {
          const shown = differs.map((f) => `${f}: API ${owner.body?.[f]} vs catalog ${asset[f]}`).join('; ');
          violations.push({
            invariant: 'the API (cache) serves what PostgreSQL holds',
            assetId: asset.id,
            message: `replica ${replica} read ${attempt}: ${owner.status} ${shown}`,
          });
        }
        const reader = await send(`${api.url}/api/v2/assets/${asset.id}`, deps.readerToken, `cc-check-reader-${asset.id}-${replica}-${attempt}`);
        if ((reader.status === 200) !== readerMayRead) {
          violations.push({
            invariant: 'the API (cache) serves what PostgreSQL holds',
            assetId: asset.id,
            message: `replica ${replica}: the reader got ${reader.status}; the catalog's grants ${JSON.stringify(asset.grants)}, deleted ${asset.is_deleted}`,
          });
        }
      }
    }
  }
  return violations;
}

/** The name, the soft deletion and the grants each asset ends with were set by a write that may be the last (model.ts). */
export async function fieldsAreLastWrites(deps: CheckDeps): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const asset of (await assetRows(deps.ctx)).values()) {
    const held = { name: asset.name, deleted: asset.is_deleted ? 'deleted' : 'live', grants: JSON.stringify(asset.grants) };
    for (const field of ['name', 'deleted', 'grants'] as const) {
      const possible = possibleValuesOf(deps.history, deps.fates, asset.id, field);
      if (possible.size && !possible.has(held[field])) {
        violations.push({
          invariant: `the ${field} is a last acknowledged write`,
          assetId: asset.id,
          message: `holds ${held[field]}; the history allows only ${[...possible].join(' | ')}`,
        });
      }
    }
  }
  return violations;
}
