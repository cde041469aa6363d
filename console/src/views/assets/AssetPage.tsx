/**
 * An asset's page: its preview and facts, details edited in place, versions, a signed link, sharing
 * and deletion. Every change is made under the ETag the page read; after one, the asset is read again.
 */
import { useState } from 'preact/hooks';
import { unwrap } from '../../api';
import { Link } from '../../components/Link';
import { formatBytes, formatTime } from '../../components/format';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { navigate } from '../../router';
import { AssetDetails } from './AssetDetails';
import { AssetPreview } from './AssetPreview';
import { AssetSharing } from './AssetSharing';
import { AssetVersions } from './AssetVersions';
import { SignedLink } from './SignedLink';
import { STALE_MESSAGE, isStale, loadAsset, mayOwn, type LoadedAsset } from './assetState';

export function AssetPage(props: { params: Record<string, string> }) {
  const { api, session } = useConsole();
  const id = props.params.id;
  const resource = useResource((signal) => loadAsset(api, id, signal), [id]);
  const [notice, setNotice] = useState<string | null>(null);
  const loaded = resource.data;

  const stale = () => {
    setNotice(STALE_MESSAGE);
    resource.reload();
  };
  const changed = () => {
    setNotice(null);
    resource.reload();
  };

  if (!loaded) {
    return (
      <section>
        <h1 tabIndex={-1}>{resource.error ? 'Asset not shown' : 'Loading the asset…'}</h1>
        {resource.error !== undefined && <ProblemNotice error={resource.error} />}
        <p>
          <Link to="/">Back to the assets</Link>
        </p>
      </section>
    );
  }
  const { asset } = loaded;
  const owns = mayOwn(asset, session);
  return (
    <article>
      <p>
        <Link to="/">← Assets</Link>
      </p>
      <h1 tabIndex={-1}>{asset.name}</h1>
      {notice && (
        <div class="notice notice-warning" role="alert">
          {notice}
        </div>
      )}
      {resource.error !== undefined && <ProblemNotice error={resource.error} title="The asset could not be read again" />}
      <div class="asset-overview">
        <div class="asset-preview">
          <AssetPreview asset={asset} />
        </div>
        <dl class="facts">
          <dt>Type</dt>
          <dd>{asset.content_type}</dd>
          <dt>Size</dt>
          <dd>{formatBytes(asset.size_bytes)}</dd>
          <dt>Owner</dt>
          <dd>{asset.owner_id}</dd>
          <dt>Versions</dt>
          <dd>{asset.version_count}</dd>
          <dt>Created</dt>
          <dd>{formatTime(asset.created_at)}</dd>
          <dt>Updated</dt>
          <dd>{formatTime(asset.updated_at)}</dd>
          <dt>SHA-256</dt>
          <dd>
            <code>{asset.checksum_sha256 ?? '—'}</code>
          </dd>
        </dl>
      </div>
      <AssetDetails loaded={loaded} onSaved={changed} onStale={stale} key={loaded.etag} />
      <AssetVersions loaded={loaded} mayRestore={owns} onRestored={changed} onStale={stale} />
      <SignedLink asset={asset} />
      {owns && <AssetSharing loaded={loaded} onChanged={changed} onStale={stale} />}
      <DeleteAsset loaded={loaded} onStale={stale} />
    </article>
  );
}

function DeleteAsset(props: { loaded: LoadedAsset; onStale(): void }) {
  const { api } = useConsole();
  const { asset, etag } = props.loaded;
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  const remove = async () => {
    setError(undefined);
    try {
      await unwrap(api.DELETE('/api/v2/assets/{id}', { params: { path: { id: asset.id }, header: { 'If-Match': etag } } }));
      navigate('/');
    } catch (err) {
      setConfirming(false);
      if (isStale(err)) props.onStale();
      else setError(err);
    }
  };

  return (
    <section aria-labelledby="asset-delete">
      <h2 id="asset-delete">Delete</h2>
      {error !== undefined && <ProblemNotice error={error} title="Not deleted" />}
      {confirming ? (
        <div class="notice notice-warning" role="alert">
          <p>
            Delete <strong>{asset.name}</strong>? It goes to the trash, from where its owner can restore it.
          </p>
          <div class="actions">
            <button type="button" class="danger primary" onClick={() => void remove()}>
              Yes, delete it
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </div>
      ) : (
        <button type="button" class="danger" onClick={() => setConfirming(true)}>
          Delete asset
        </button>
      )}
    </section>
  );
}
