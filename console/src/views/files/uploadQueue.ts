/**
 * The upload page's queue: Uppy with @uppy/tus against /api/v2/tus, so an upload resumes after a
 * dropped connection or a pause. A file's outcome is the asset its upload made (read from the upload
 * session, as the finish may outlast the last PATCH) or the API's problem.
 */
import Uppy, { type UppyFile } from '@uppy/core';
import Tus from '@uppy/tus';
import { useEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import { bearerOf, StorageProblem, unwrap, type Api } from '../../api';
import type { Session } from '../../session';
import type { PickedFile } from './droppedFiles';

type Meta = { name: string; type: string; relativePath?: string; asset_id?: string; metadata?: string };
type Body = Record<string, never>;
export type QueuedFile = UppyFile<Meta, Body>;

export type Outcome =
  | { state: 'finishing' }
  | { state: 'done'; assetId: string }
  | { state: 'failed'; problem: unknown }
  /** Still finishing when the page stopped asking: the upload session says when it is done. */
  | { state: 'slow'; statusUrl: string };

export const CHUNK_SIZE = 8 * 1024 * 1024;
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000];
// 5xx answers worth another try; 507 (over quota) and the like would only be refused again.
const PASSING_5XX = new Set([500, 502, 503, 504]);
/** How long the page asks after an upload's finish (the worker may be busy): about two minutes. */
const FINISH_POLLS = 60;

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The API's problem+json answer to a tus request, as the typed client's refusals are. */
function problemOfAnswer(status: number, text: string, requestId: string | undefined): StorageProblem {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { title: `Error ${status}`, detail: text || undefined };
  }
  return new StorageProblem(status, body, requestId ?? null);
}

/** What stopped an upload that got no answer to show (the connection, or the retries ran out). */
function problemOfTus(error: unknown): Error {
  return new Error(`The upload stopped: ${error instanceof Error ? error.message : String(error)}`);
}

/** The asset an upload made: its session (GET /uploads/{id}) names it once completed. */
async function assetOfUpload(api: Api, uploadUrl: string): Promise<Outcome> {
  const id = uploadUrl.replace(/\/+$/, '').split('/').pop()!;
  for (let poll = 0; poll < FINISH_POLLS; poll++) {
    const upload = await unwrap(api.GET('/api/v2/uploads/{id}', { params: { path: { id } } }));
    if (upload.status === 'completed' && upload.asset_id) return { state: 'done', assetId: upload.asset_id };
    if (upload.status !== 'open' && upload.status !== 'completing') {
      return { state: 'failed', problem: new Error(`The upload ${upload.status}${upload.error ? `: ${upload.error}` : ''}`) };
    }
    await delay(Math.min(500 * (poll + 1), 2000));
  }
  return { state: 'slow', statusUrl: `/api/v2/uploads/${id}` };
}

/**
 * A queue for this session (and, in version mode, this asset): Uppy's state for the files and their
 * progress, ours for each file's outcome. `onSettled` runs when an upload ends, either way.
 */
export function useUploadQueue(opts: {
  api: Api;
  session: Session;
  assetId: string | null;
  /** A version's asset keeps this name (a version's filename would rename it). */
  keepName?: string;
  signOut(reason?: string): void;
  onSettled(): void;
}) {
  const { api, session, assetId } = opts;
  const [outcomes, setOutcomes] = useState<Record<string, Outcome>>({});
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  // The handlers are installed once per queue: they read the page's latest callbacks through this.
  const latest = useRef(opts);
  latest.current = opts;
  // A refusal is read as it arrives: by the time Uppy reports the error it has aborted the request, and its answer is gone.
  const refusals = useMemo(() => ({ byFile: new Map<string, StorageProblem>(), fileOf: new WeakMap<object, string>() }), []);
  const uppy = useMemo(
    () =>
      // The id is part of each file's fingerprint, kept to resume after a reload: one per user and target.
      new Uppy<Meta, Body>({
        id: `console-${session.sub}${assetId ? `-version-${assetId}` : ''}`,
        autoProceed: false,
        restrictions: { maxNumberOfFiles: assetId ? 1 : null },
      }).use(Tus<Meta, Body>, {
        endpoint: `${location.origin}/api/v2/tus`,
        headers: bearerOf(session),
        chunkSize: CHUNK_SIZE,
        retryDelays: RETRY_DELAYS,
        limit: 3,
        // A finished upload's fingerprint is dropped, or the same file chosen again would "resume" into it and make nothing.
        removeFingerprintOnSuccess: true,
        // Each file's meta (add) is sent: name and type become filename and filetype, asset_id makes a
        // version, metadata keeps the folder; relativePath tells two files of one name apart.
        allowedMetaFields: true,
        onBeforeRequest: (req, file) => {
          refusals.fileOf.set(req, file.id);
          refusals.byFile.delete(file.id);
        },
        onAfterResponse: (req, res) => {
          const id = refusals.fileOf.get(req);
          const status = res.getStatus();
          if (id && status >= 400) refusals.byFile.set(id, problemOfAnswer(status, res.getBody(), res.getHeader('X-Request-Id')));
        },
        onShouldRetry: (err, _attempt, _options, next) => {
          const status = err.originalResponse?.getStatus();
          if (status !== undefined && status >= 500 && !PASSING_5XX.has(status)) return false;
          return next(err);
        },
      }),
    [session, assetId],
  );
  useEffect(() => {
    const settle = (id: string, outcome: Outcome) => {
      setOutcomes((all) => ({ ...all, [id]: outcome }));
      if (outcome.state !== 'finishing') latest.current.onSettled();
    };
    uppy.on('state-update', () => rerender(undefined));
    uppy.on('upload-success', (file, response) => {
      if (!file || !response.uploadURL) return;
      settle(file.id, { state: 'finishing' });
      assetOfUpload(api, response.uploadURL).then(
        (outcome) => settle(file.id, outcome),
        (problem: unknown) => settle(file.id, { state: 'failed', problem }),
      );
    });
    uppy.on('upload-error', (file, error) => {
      if (!file) return;
      const problem = refusals.byFile.get(file.id) ?? problemOfTus(error);
      if (problem instanceof StorageProblem && problem.status === 401)
        latest.current.signOut('The API refused your token (401): it expired or was revoked. Sign in again.');
      settle(file.id, { state: 'failed', problem });
    });
    uppy.on('upload-retry', (file) => file && setOutcomes(({ [file.id]: _gone, ...rest }) => rest));
    uppy.on('file-removed', (file) => setOutcomes(({ [file.id]: _gone, ...rest }) => rest));
    return () => uppy.destroy();
  }, [uppy]);

  /** Adds files to the queue; answers why any could not be (already queued, one file only for a version). */
  const add = (picked: PickedFile[]): string[] => {
    const refused: string[] = [];
    for (const { file, folder } of picked) {
      const meta: Meta = { name: file.name, type: file.type };
      if (folder) meta.relativePath = `${folder}/${file.name}`;
      if (assetId) meta.asset_id = assetId;
      else if (folder) meta.metadata = JSON.stringify({ folder });
      try {
        const id = uppy.addFile({ name: file.name, type: file.type, data: file, source: 'console', meta });
        if (assetId && opts.keepName) uppy.setFileMeta(id, { ...meta, name: opts.keepName });
      } catch (err) {
        refused.push(err instanceof Error ? err.message : String(err));
      }
    }
    return refused;
  };

  return { uppy, files: uppy.getFiles(), outcomes, add };
}
