/**
 * An asset's preview. Images and audio load through a signed URL (an element cannot send the token).
 * Text is read with the token, its first 64 KiB only (a Range request). A PDF cannot be framed from
 * the API: the content routes serve PDF as an attachment under `sandbox` whatever is asked
 * (api/http/contentPresentation.ts, issue 23), so a frame of its URL would only start a download.
 * It is read with the token into a blob: URL instead (the console's CSP allows frame-src blob:),
 * which the browser's PDF viewer renders in its own process, not as a document of this origin.
 */
import { useEffect, useState } from 'preact/hooks';
import { bearerOf, StorageProblem } from '../../api';
import { formatBytes } from '../../components/format';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useConsole, type ConsoleContext } from '../../context';
import { essenceOf, type Asset } from './assetState';
import { previewUrl } from './signing';

const TEXT_BYTES = 64 * 1024;
/** A larger PDF is downloaded, not read into the page's memory. */
const PDF_PREVIEW_MAX_BYTES = 25 * 1024 * 1024;

type Kind = 'image' | 'audio' | 'video' | 'pdf' | 'text' | 'none';

function kindOf(asset: Asset): Kind {
  const type = essenceOf(asset.content_type);
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('audio/')) return 'audio';
  if (type.startsWith('video/')) return 'video';
  if (type === 'application/pdf') return asset.size_bytes <= PDF_PREVIEW_MAX_BYTES ? 'pdf' : 'none';
  if (type.startsWith('text/') || type === 'application/json' || type.endsWith('+json')) return 'text';
  return 'none';
}

/** The current content read with the token (streamed by the API: connect-src is 'self'). */
async function readContent(context: ConsoleContext, asset: Asset, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
  const res = await fetch(`/api/v2/assets/${encodeURIComponent(asset.id)}/content?redirect=false`, {
    headers: { ...bearerOf(context.session), ...headers },
    signal,
  });
  if (res.status === 401) context.signOut('The API refused your token (401): it expired or was revoked. Sign in again.');
  if (!res.ok) {
    const body = (await res.json().catch(() => ({ detail: res.statusText }))) as StorageProblem['body'];
    throw new StorageProblem(res.status, body, res.headers.get('x-request-id'));
  }
  return res;
}

export function AssetPreview(props: { asset: Asset }) {
  const { asset } = props;
  const context = useConsole();
  const kind = kindOf(asset);
  const [src, setSrc] = useState<string | null>(null);
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(undefined);

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    let blobUrl: string | null = null;
    setSrc(null);
    setText(null);
    setError(undefined);
    const failed = (err: unknown) => signal.aborted || setError(err);
    if (kind === 'image' || kind === 'audio' || kind === 'video') {
      previewUrl(context.api, asset.id, asset.current_version_id, signal).then((url) => signal.aborted || setSrc(url), failed);
    } else if (kind === 'text') {
      readContent(context, asset, { Range: `bytes=0-${TEXT_BYTES - 1}` }, signal)
        .then((res) => res.arrayBuffer())
        .then((bytes) => signal.aborted || setText(new TextDecoder().decode(bytes.slice(0, TEXT_BYTES))), failed);
    } else if (kind === 'pdf') {
      readContent(context, asset, {}, signal)
        .then((res) => res.blob())
        .then((blob) => {
          if (signal.aborted) return;
          blobUrl = URL.createObjectURL(new Blob([blob], { type: 'application/pdf' }));
          setSrc(blobUrl);
        }, failed);
    }
    return () => {
      controller.abort();
      if (blobUrl) URL.revokeObjectURL(blobUrl);
    };
  }, [asset.id, asset.current_version_id, kind]);

  if (error !== undefined) return <ProblemNotice error={error} title="The preview could not be loaded" />;
  if (kind === 'none') return <p class="muted">No preview for {asset.content_type}: download it from the versions below.</p>;
  if (kind === 'text') {
    if (text === null) return <p class="muted">Loading the preview…</p>;
    return (
      <>
        <pre class="text-preview" tabIndex={0} aria-label={`Text of ${asset.name}`}>
          {text}
        </pre>
        {asset.size_bytes > TEXT_BYTES && (
          <p class="muted">
            The first {formatBytes(TEXT_BYTES)} of {formatBytes(asset.size_bytes)} are shown.
          </p>
        )}
      </>
    );
  }
  if (!src) return <p class="muted">Loading the preview…</p>;
  if (kind === 'image') return <img class="preview" src={src} alt={`Preview of ${asset.name}`} />;
  if (kind === 'audio') return <audio controls src={src} aria-label={`Play ${asset.name}`} />;
  if (kind === 'video') return <video class="preview" controls src={src} aria-label={`Play ${asset.name}`} />;
  return <iframe class="preview-frame" src={src} title={`Preview of ${asset.name}`} />;
}
