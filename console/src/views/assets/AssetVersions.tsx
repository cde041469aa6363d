/**
 * An asset's versions, newest first: size, SHA-256, when and by whom (its uploader's sub; "unknown" for
 * a version made before the service recorded it); a download of each (a signed URL of that
 * version, as an attachment: signed on click, so the table costs one request); and the restore of an
 * older one as the new current version. A restore that outlasts the API's wait answers 202 with an
 * operation, followed here until it is done.
 *
 * The buttons name their version in aria-label, not in visually hidden text, which would be read as
 * part of a crowded row.
 */
import { useState } from 'preact/hooks';
import { TableScroll } from '../../components/TableScroll';
import { followOperation } from '../../api';
import { unwrap } from '../../api';
import { CopyButton } from '../../components/CopyButton';
import { formatBytes, formatTime, shortHash } from '../../components/format';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { isStale, type LoadedAsset, type Version } from './assetState';
import { signUrl } from './signing';

export function AssetVersions(props: { loaded: LoadedAsset; mayRestore: boolean; onRestored(): void; onStale(): void }) {
  const { api } = useConsole();
  const { asset, etag } = props.loaded;
  const versions = useResource(
    (signal) => unwrap(api.GET('/api/v2/assets/{id}/versions', { params: { path: { id: asset.id }, query: { limit: 100 } }, signal })),
    [asset.id, asset.current_version_id, asset.version_count],
  );
  const [said, setSaid] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);

  const download = async (version: Version) => {
    setError(undefined);
    try {
      const { url } = await signUrl(api, asset.id, { versionId: version.id, download: true, expiresIn: 300 });
      const link = document.createElement('a');
      link.href = url;
      link.download = '';
      document.body.append(link);
      link.click();
      link.remove();
      setSaid(`Downloading version ${version.version_number}`);
    } catch (err) {
      setError(err);
    }
  };

  const restore = async (version: Version) => {
    setBusy(true);
    setError(undefined);
    setSaid(`Restoring version ${version.version_number}…`);
    try {
      const answer = await api.POST('/api/v2/assets/{id}/versions/{version_id}/restore', {
        params: { path: { id: asset.id, version_id: version.id }, header: { 'If-Match': etag } },
      });
      await unwrap(Promise.resolve(answer));
      if (answer.response.status === 202) {
        const location = answer.response.headers.get('location') ?? (answer.data as { operation_url: string }).operation_url;
        const done = await followOperation(api, location, { onUpdate: (op) => setSaid(`Restoring version ${version.version_number}: ${op.status}…`) });
        if (done.status !== 'succeeded') throw new Error(done.error?.detail ?? `the restore ${done.status}`);
      }
      setSaid(`Version ${version.version_number} restored as the current version`);
      props.onRestored();
    } catch (err) {
      setSaid('');
      if (isStale(err)) props.onStale();
      else setError(err);
    } finally {
      setBusy(false);
    }
  };

  const items = versions.data?.items ?? [];
  return (
    <section aria-labelledby="asset-versions">
      <h2 id="asset-versions">Versions</h2>
      {versions.error !== undefined && <ProblemNotice error={versions.error} title="The versions could not be loaded" />}
      {error !== undefined && <ProblemNotice error={error} />}
      <p role="status" class="muted">
        {said}
      </p>
      <TableScroll label="Versions">
        <table class="row-heads">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col" class="number">
                Size
              </th>
              <th scope="col">SHA-256</th>
              <th scope="col">Uploaded</th>
              <th scope="col">Uploaded by</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {items.map((version) => (
              <tr key={version.id}>
                <th scope="row">
                  {version.version_number}
                  {version.is_current && <span class="badge">current</span>}
                  {version.damaged_at && <span class="badge badge-danger">damaged</span>}
                </th>
                <td class="number">{formatBytes(version.size_bytes)}</td>
                <td>
                  <code title={version.checksum_sha256}>{shortHash(version.checksum_sha256)}</code>{' '}
                  <CopyButton text={version.checksum_sha256} label={`Copy SHA-256 of version ${version.version_number}`} />
                </td>
                <td>{formatTime(version.created_at)}</td>
                <td>{version.uploaded_by ?? <span class="muted">unknown</span>}</td>
                <td>
                  <div class="actions">
                    <button type="button" aria-label={`Download version ${version.version_number}`} onClick={() => void download(version)}>
                      Download
                    </button>
                    {props.mayRestore && !version.is_current && (
                      <button type="button" aria-label={`Restore version ${version.version_number}`} disabled={busy} onClick={() => void restore(version)}>
                        Restore
                      </button>
                    )}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
      {versions.data?.next_cursor && <p class="muted">The 100 newest versions are shown.</p>}
    </section>
  );
}
