/** The upload page's files: each with its progress, its state, and what can be done with it. */
import { formatBytes } from '../../components/format';
import { Link } from '../../components/Link';
import { ProblemNotice } from '../../components/ProblemNotice';
import type { QueuedFile, useUploadQueue } from './uploadQueue';

type Queue = ReturnType<typeof useUploadQueue>;

const shownName = (file: QueuedFile) => (file.meta.relativePath ? String(file.meta.relativePath) : (file.name ?? 'file'));

function FileRow(props: { file: QueuedFile; queue: Queue }) {
  const { file, queue } = props;
  const { uppy } = queue;
  const outcome = queue.outcomes[file.id];
  const name = shownName(file);
  const started = Boolean(file.progress.uploadStarted);
  const uploading = started && !file.progress.uploadComplete && !file.error && outcome?.state !== 'failed';
  const percent = file.progress.uploadComplete ? 100 : (file.progress.percentage ?? 0);
  let state: string;
  if (outcome?.state === 'done') state = 'Uploaded';
  else if (outcome?.state === 'failed') state = 'Failed';
  else if (outcome?.state === 'slow') state = 'Still finishing';
  else if (file.progress.uploadComplete) state = 'Finishing…';
  else if (!started) state = 'Queued';
  else if (file.isPaused) state = `Paused at ${percent}%`;
  else state = `Uploading, ${percent}%`;
  return (
    <li class="upload-item">
      <div class="upload-head">
        <span class="upload-name">{name}</span>
        <span class="muted">{formatBytes(file.size)}</span>
        <span class="upload-state">{state}</span>
      </div>
      <progress class="progress" max={100} value={percent} aria-label={`Progress of ${name}`} />
      {outcome?.state === 'failed' && <ProblemNotice error={outcome.problem} title={`${name} was not uploaded`} />}
      {outcome?.state === 'slow' && (
        <p class="muted">
          The service is still finishing it: <code>{outcome.statusUrl}</code> says when it is done.
        </p>
      )}
      <div class="actions">
        {outcome?.state === 'done' && (
          <Link to={`/assets/${outcome.assetId}`} label={`Open ${name}`}>
            Open
          </Link>
        )}
        {uploading && (
          <button type="button" aria-label={`${file.isPaused ? 'Resume' : 'Pause'} ${name}`} onClick={() => uppy.pauseResume(file.id)}>
            {file.isPaused ? 'Resume' : 'Pause'}
          </button>
        )}
        {outcome?.state === 'failed' && file.error && (
          <button type="button" aria-label={`Retry ${name}`} onClick={() => void uppy.retryUpload(file.id).catch(() => undefined)}>
            Retry
          </button>
        )}
        {!file.progress.uploadComplete && (
          <button type="button" aria-label={`Remove ${name}`} onClick={() => uppy.removeFile(file.id)}>
            Remove
          </button>
        )}
      </div>
    </li>
  );
}

export function UploadList(props: { queue: Queue }) {
  return (
    <ul class="upload-list" aria-label="Files">
      {props.queue.files.map((file) => (
        <FileRow key={file.id} file={file} queue={props.queue} />
      ))}
    </ul>
  );
}
