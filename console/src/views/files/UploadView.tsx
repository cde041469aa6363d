/**
 * Upload: files or a folder, dropped or picked, through tus (Uppy), with each file's progress and the
 * total, pause and resume, and a link to the asset each upload made. `?asset=<id>` uploads one file as
 * a new version of that asset. The quota is read first, and a choice that would pass it is said
 * before anything is sent; the server's refusal is shown all the same.
 */
import { useRef, useState } from 'preact/hooks';
import { unwrap } from '../../api';
import { formatBytes } from '../../components/format';
import { Link } from '../../components/Link';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { useLocation } from '../../router';
import { filesOfDrop, filesOfInput, type PickedFile } from './droppedFiles';
import { UploadList } from './UploadList';
import { useUploadQueue } from './uploadQueue';
import { remainingOf, UsageFigures, type Usage } from './usage';

/** What the queued files would pass, said before they are sent: null when they fit. */
function overQuota(usage: Usage | undefined, bytes: number, assets: number): string | null {
  if (!usage) return null;
  const left = remainingOf(usage);
  const over: string[] = [];
  if (left.bytes !== null && bytes > left.bytes) over.push(`${formatBytes(bytes)} chosen, ${formatBytes(left.bytes)} left of your quota`);
  if (left.assets !== null && assets > left.assets) over.push(`${assets} new assets chosen, ${left.assets} left of your quota`);
  return over.length ? over.join('; ') : null;
}

export function UploadView() {
  const { api, session, settings, signOut } = useConsole();
  const assetId = useLocation().query.get('asset');
  const usage = useResource(() => unwrap(api.GET('/api/v2/usage')), []);
  const target = useResource(async () => (assetId ? unwrap(api.GET('/api/v2/assets/{id}', { params: { path: { id: assetId } } })) : null), [assetId]);
  const queue = useUploadQueue({ api, session, settings, assetId, signOut, onSettled: usage.reload });
  const [refused, setRefused] = useState<string[]>([]);
  const [over, setOver] = useState(false);
  const filesInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  const take = (picked: PickedFile[]) => setRefused(queue.add(picked));
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setOver(false);
    if (event.dataTransfer) filesOfDrop(event.dataTransfer).then(take, (err: unknown) => setRefused([String(err)]));
  };
  const onDragOver = (event: DragEvent) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
    setOver(true);
  };
  const onPicked = (event: Event) => {
    const input = event.currentTarget as HTMLInputElement;
    take(filesOfInput(input));
    input.value = '';
  };

  const { files, uppy } = queue;
  const queued = files.filter((f) => !f.progress.uploadStarted);
  const running = files.filter((f) => f.progress.uploadStarted && !f.progress.uploadComplete && !f.error);
  // A version counts against its asset's owner: another owner's quota is theirs to see.
  const ownQuota = !assetId || target.data?.owner_id === session.sub;
  const warning = ownQuota
    ? overQuota(
        usage.data,
        queued.reduce((sum, f) => sum + (f.size ?? 0), 0),
        assetId ? 0 : queued.length,
      )
    : null;
  const start = () => {
    // A version's filename would rename its asset: the version is sent under the asset's own name.
    if (assetId && target.data) for (const f of queued) uppy.setFileMeta(f.id, { ...f.meta, name: target.data.name });
    uppy.upload().catch(() => undefined);
  };
  const total = files.reduce((sum, f) => sum + (f.size ?? 0), 0);
  const sent = files.reduce((sum, f) => sum + (f.progress.uploadComplete ? (f.size ?? 0) : Number(f.progress.bytesUploaded || 0)), 0);
  const finished = files.filter((f) => queue.outcomes[f.id]?.state === 'done').length;
  const failed = files.filter((f) => queue.outcomes[f.id]?.state === 'failed').length;

  return (
    <section>
      <h1 tabIndex={-1}>{assetId ? 'Upload a new version' : 'Upload'}</h1>
      {assetId && target.error !== undefined && <ProblemNotice error={target.error} title="The asset to add a version to cannot be read" />}
      {assetId && target.data && (
        <p>
          The file you choose becomes the new version of <Link to={`/assets/${target.data.id}`}>{target.data.name}</Link>, which keeps its name.{' '}
          <Link to="/upload">Upload new assets instead</Link>.
        </p>
      )}

      <h2>Your quota</h2>
      {usage.error !== undefined && <ProblemNotice error={usage.error} title="Your usage cannot be read" />}
      {!ownQuota && target.data && <p class="muted">This version counts against the quota of {target.data.owner_id}, the asset's owner.</p>}
      {ownQuota && usage.data && <UsageFigures usage={usage.data} idPrefix="upload-usage" />}

      <h2>Files</h2>
      <div
        class={over ? 'dropzone over' : 'dropzone'}
        role="group"
        aria-label="Drop zone"
        onDragEnter={onDragOver}
        onDragOver={onDragOver}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <p>{assetId ? 'Drop the file of the new version here, or' : 'Drop files or a folder here, or'}</p>
        <div class="actions dropzone-actions">
          <button type="button" onClick={() => filesInput.current?.click()}>
            {assetId ? 'Choose a file' : 'Choose files'}
          </button>
          {!assetId && (
            <button type="button" onClick={() => folderInput.current?.click()}>
              Choose a folder
            </button>
          )}
        </div>
        <input ref={filesInput} type="file" multiple={!assetId} class="visually-hidden" tabIndex={-1} aria-label="Files to upload" onChange={onPicked} />
        {!assetId && (
          <input
            ref={folderInput}
            type="file"
            {...{ webkitdirectory: true }}
            class="visually-hidden"
            tabIndex={-1}
            aria-label="Folder to upload"
            onChange={onPicked}
          />
        )}
      </div>
      {refused.length > 0 && (
        <div class="notice notice-warning" role="alert">
          <strong>Not added</strong>
          <ul>
            {refused.map((reason) => (
              <li key={reason}>{reason}</li>
            ))}
          </ul>
        </div>
      )}
      {warning && (
        <div class="notice notice-warning" role="status">
          <strong>These files would pass your quota</strong>
          <p>{warning}. The server will refuse what does not fit: remove some files, or free space from the trash.</p>
        </div>
      )}

      <div class="actions">
        <button type="button" class="primary" disabled={queued.length === 0 || (assetId !== null && !target.data)} onClick={start}>
          {queued.length > 0 ? `Upload ${queued.length} file${queued.length === 1 ? '' : 's'}` : 'Upload'}
        </button>
        <button type="button" disabled={running.length === 0 || running.every((f) => f.isPaused)} onClick={() => uppy.pauseAll()}>
          Pause all
        </button>
        <button type="button" disabled={!running.some((f) => f.isPaused)} onClick={() => uppy.resumeAll()}>
          Resume all
        </button>
        <button
          type="button"
          disabled={finished === 0}
          onClick={() => uppy.removeFiles(files.filter((f) => queue.outcomes[f.id]?.state === 'done').map((f) => f.id))}
        >
          Clear finished
        </button>
      </div>

      {files.length > 0 && (
        <>
          <label for="upload-total">Total progress</label>
          <progress id="upload-total" class="progress" max={Math.max(total, 1)} value={sent} />
          <p role="status" class="muted">
            {formatBytes(sent)} of {formatBytes(total)} sent; {finished} of {files.length} file{files.length === 1 ? '' : 's'} uploaded
            {failed > 0 ? `, ${failed} failed` : ''}
          </p>
          <UploadList queue={queue} />
        </>
      )}
    </section>
  );
}
