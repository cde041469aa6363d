/**
 * The upload page's queue: Uppy with @uppy/tus against /api/v2/tus, so an upload resumes after a
 * dropped connection or a pause. A file's outcome is the asset its upload made (read from the upload
 * session, as the finish may outlast the last PATCH) or the API's problem.
 */
import Uppy, { type UppyFile } from '@uppy/core';
import Tus from '@uppy/tus';
import { useEffect, useMemo, useReducer } from 'preact/hooks';
import { bearerOf, StorageProblem, unwrap, type Api } from '../../api';
import { storedSession, type Session } from '../../session';
import type { ConsoleSettings } from '../../settings';
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
    const upload = await unwrap(api.GET('/api/v2/uploads/{id}', { params: { path: { id } } })).catch((error: unknown) => {
      // The bytes are stored: a dropped connection or an outage while asking is a poll lost, not a failed upload.
      if (error instanceof StorageProblem && error.status < 500) throw error;
      return null;
    });
    if (upload === null) {
      await delay(2000);
      continue;
    }
    if (upload.status === 'completed' && upload.asset_id) return { state: 'done', assetId: upload.asset_id };
    if (upload.status !== 'open' && upload.status !== 'completing') {
      return { state: 'failed', problem: new Error(`The upload ${upload.status}${upload.error ? `: ${upload.error}` : ''}`) };
    }
    await delay(Math.min(500 * (poll + 1), 2000));
  }
  return { state: 'slow', statusUrl: `/api/v2/uploads/${id}` };
}

/** What a queue's handlers call: the view's, while it is shown (none while the user is on another page). */
interface QueueHooks {
  api: Api;
  signOut(reason?: string): void;
  onSettled(): void;
}

/**
 * One queue: Uppy's state for the files and their progress, ours for each file's outcome. It outlives
 * the upload page (module state, one per user and target): leaving the page would otherwise destroy
 * Uppy, which terminates the uploads under way; they go on, and are there on coming back.
 */
interface Queue {
  uppy: Uppy<Meta, Body>;
  /** The token its uploads are sent with. */
  token: string;
  outcomes: Record<string, Outcome>;
  hooks: QueueHooks;
  listeners: Set<() => void>;
}

const queues = new Map<string, Queue>();

function createQueue(key: string, session: Session, assetId: string | null, hooks: QueueHooks): Queue {
  // A refusal is read as it arrives: by the time Uppy reports the error it has aborted the request, and its answer is gone.
  const refusals = new Map<string, StorageProblem>();
  const fileOf = new WeakMap<object, string>();
  const uppy = new Uppy<Meta, Body>({
    // The id is part of each file's fingerprint, kept to resume after a reload: one per user and target.
    id: key,
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
      fileOf.set(req, file.id);
      refusals.delete(file.id);
    },
    onAfterResponse: (req, res) => {
      const id = fileOf.get(req);
      const status = res.getStatus();
      if (id && status >= 400) refusals.set(id, problemOfAnswer(status, res.getBody(), res.getHeader('X-Request-Id')));
    },
    onShouldRetry: (err, _attempt, _options, next) => {
      const status = err.originalResponse?.getStatus();
      if (status !== undefined && status >= 500 && !PASSING_5XX.has(status)) return false;
      return next(err);
    },
  });
  const queue: Queue = { uppy, token: session.token, outcomes: {}, hooks, listeners: new Set() };
  const changed = () => queue.listeners.forEach((listener) => listener());
  const setOutcome = (id: string, outcome: Outcome | null) => {
    const { [id]: _old, ...rest } = queue.outcomes;
    queue.outcomes = outcome ? { ...rest, [id]: outcome } : rest;
    changed();
  };
  const settle = (id: string, outcome: Outcome) => {
    setOutcome(id, outcome);
    if (outcome.state !== 'finishing') queue.hooks.onSettled();
  };
  uppy.on('state-update', changed);
  uppy.on('upload-success', (file, response) => {
    if (!file || !response.uploadURL) return;
    settle(file.id, { state: 'finishing' });
    assetOfUpload(queue.hooks.api, response.uploadURL).then(
      (outcome) => settle(file.id, outcome),
      (problem: unknown) => settle(file.id, { state: 'failed', problem }),
    );
  });
  uppy.on('upload-error', (file, error) => {
    if (!file) return;
    const problem = refusals.get(file.id) ?? problemOfTus(error);
    if (problem instanceof StorageProblem && problem.status === 401)
      queue.hooks.signOut('The API refused your token (401): it expired or was revoked. Sign in again.');
    settle(file.id, { state: 'failed', problem });
  });
  uppy.on('upload-retry', (file) => file && setOutcome(file.id, null));
  uppy.on('file-removed', (file) => setOutcome(file.id, null));
  return queue;
}

/** Ends a queue: its uploads under way are terminated (tus DELETE). */
function endQueue(key: string, queue: Queue): void {
  queues.delete(key);
  queue.uppy.destroy();
}

/** Whether any queue has an upload under way: closing the tab then asks first. */
function uploading(): boolean {
  return [...queues.values()].some((q) => q.uppy.getFiles().some((f) => f.progress.uploadStarted && !f.progress.uploadComplete && !f.error && !f.isPaused));
}

window.addEventListener('beforeunload', (event) => {
  if (uploading()) event.preventDefault();
});

/**
 * The queue of this session (and, in version mode, this asset), drawn again as it changes. `onSettled`
 * runs when an upload ends, either way.
 */
export function useUploadQueue(opts: {
  api: Api;
  session: Session;
  settings: ConsoleSettings;
  assetId: string | null;
  signOut(reason?: string): void;
  onSettled(): void;
}) {
  const { session, assetId } = opts;
  const key = `console-${session.sub}${assetId ? `-version-${assetId}` : ''}`;
  const queue = useMemo(() => {
    // Another sign-in's queues end: their token is not this tab's any more.
    for (const [other, q] of queues) if (q.token !== session.token) endQueue(other, q);
    let found = queues.get(key);
    if (!found) queues.set(key, (found = createQueue(key, session, assetId, opts)));
    return found;
  }, [key, session.token]);
  queue.hooks = { api: opts.api, signOut: opts.signOut, onSettled: opts.onSettled };
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const listener = () => rerender(undefined);
    queue.listeners.add(listener);
    return () => {
      queue.listeners.delete(listener);
      // Away from the page, an ending upload has no view to refresh.
      queue.hooks = { ...queue.hooks, onSettled: () => undefined };
      // Signed out (the console unmounted this view as it forgot the session): the uploads end with it.
      setTimeout(() => {
        if (!storedSession(opts.settings)) for (const [key, q] of queues) endQueue(key, q);
      });
    };
  }, [queue]);

  /** Adds files to the queue; answers why any could not be (already queued, one file only for a version). */
  const add = (picked: PickedFile[]): string[] => {
    const refused: string[] = [];
    for (const { file, folder } of picked) {
      const meta: Meta = { name: file.name, type: file.type };
      if (folder) meta.relativePath = `${folder}/${file.name}`;
      if (assetId) meta.asset_id = assetId;
      else if (folder) meta.metadata = JSON.stringify({ folder });
      try {
        queue.uppy.addFile({ name: file.name, type: file.type, data: file, source: 'console', meta });
      } catch (err) {
        refused.push(err instanceof Error ? err.message : String(err));
      }
    }
    return refused;
  };

  return { uppy: queue.uppy, files: queue.uppy.getFiles(), outcomes: queue.outcomes, add };
}
