/**
 * The grid: a card per asset, images with a thumbnail. A thumbnail is signed only once its card comes
 * near the screen (signing.ts makes a few at a time), so a page of 1,000 costs what is looked at.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { components } from '../../api';
import { Link } from '../../components/Link';
import { formatBytes } from '../../components/format';
import { useConsole } from '../../context';
import { previewUrl } from './signing';

type Asset = components['schemas']['Asset'];

export function AssetGrid(props: { assets: Asset[] }) {
  return (
    <ul class="grid" aria-label="Assets">
      {props.assets.map((asset) => (
        <li class="card" key={asset.id}>
          <Link to={`/assets/${asset.id}`}>
            <Thumbnail asset={asset} />
            <div class="card-body">
              <strong>{asset.name}</strong>
              <div class="muted">
                {asset.content_type} · {formatBytes(asset.size_bytes)}
              </div>
            </div>
          </Link>
        </li>
      ))}
    </ul>
  );
}

export const isImage = (contentType: string) => /^image\//i.test(contentType);

function Thumbnail(props: { asset: Asset }) {
  const { asset } = props;
  const { api } = useConsole();
  const box = useRef<HTMLDivElement>(null);
  const [near, setNear] = useState(false);
  const [src, setSrc] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  const image = isImage(asset.content_type) && asset.current_version_id !== null;

  useEffect(() => {
    if (!image || !box.current) return;
    const observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && setNear(true), { rootMargin: '200px' });
    observer.observe(box.current);
    return () => observer.disconnect();
  }, [image]);

  useEffect(() => {
    if (!near) return;
    const controller = new AbortController();
    previewUrl(api, asset.id, asset.current_version_id, controller.signal).then(
      (url) => controller.signal.aborted || setSrc(url),
      () => controller.signal.aborted || setFailed(true),
    );
    return () => controller.abort();
  }, [near, asset.id, asset.current_version_id]);

  return (
    <div class="thumb" ref={box}>
      {!image || failed ? (
        <span>{failed ? 'No preview' : asset.content_type}</span>
      ) : src ? (
        <img src={src} alt={`Preview of ${asset.name}`} decoding="async" onError={() => setFailed(true)} />
      ) : (
        <span class="muted">Loading preview…</span>
      )}
    </div>
  );
}
