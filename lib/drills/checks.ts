/**
 * What a drill checks of one sampled asset's lines, before any byte: they parse as the lines this
 * service writes, and agree with each other (each version is of the asset, at the key derived from
 * both ids, and the asset's current version is among them). A line that fails is a failure of the
 * drill naming the asset (and the version), not of the manifest: the other assets are still checked.
 */
import { z } from 'zod';
import { objectKeyFor } from '../assets/keys';
import { assetLine, versionLine } from '../backups/manifestChecks';
import type { ManifestLine } from '../backups/manifest';
import type { DrillFailure } from './store';

// A drill also copies the version's content type onto its scratch copy, and compares it.
const drillVersionLine = versionLine.extend({ content_type: z.string().min(1) });
export type CheckedVersion = z.infer<typeof drillVersionLine>;

function issueOf(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue.path.join('.') || 'line'} ${issue.message}`;
}

/** The asset's lines checked; answers the versions whose bytes can be checked, and what failed. */
export function checkAssetLines(assetId: string, lines: ManifestLine[]): { versions: CheckedVersion[]; failures: DrillFailure[] } {
  const failures: DrillFailure[] = [];
  const fail = (versionId: string | null, reason: string) => failures.push({ asset_id: assetId, version_id: versionId, reason });
  const [first, ...rest] = lines;
  const asset = assetLine.safeParse(first);
  if (!asset.success) {
    fail(null, `its asset line does not parse: ${issueOf(asset.error)}`);
    return { versions: [], failures };
  }
  const versions: CheckedVersion[] = [];
  for (const line of rest) {
    const vid = typeof (line as { id?: unknown }).id === 'string' ? (line as { id: string }).id : null;
    const v = drillVersionLine.safeParse(line);
    if (!v.success) {
      fail(vid, `its version line does not parse: ${issueOf(v.error)}`);
      continue;
    }
    if (v.data.asset_id !== asset.data.id) fail(v.data.id, `its version line names asset ${v.data.asset_id}`);
    else if (v.data.object_key !== objectKeyFor(v.data.asset_id, v.data.id))
      fail(v.data.id, `its version line names the key ${v.data.object_key}, not its own`);
    else versions.push(v.data);
  }
  const current = asset.data.current_version_id;
  if (current && !rest.some((l) => (l as { id?: unknown }).id === current)) fail(current, 'the asset names a current version the backup holds no line of');
  return { versions, failures };
}
