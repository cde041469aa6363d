/**
 * A multipart/form-data body, read part by part in the order sent. The file comes as a stream, to be
 * consumed while the rest of the form is read: its bytes are never held here.
 */
import busboy, { type FileInfo } from 'busboy';
import type { Request } from 'express';
import type { Readable } from 'node:stream';
import { DomainError, ValidationError } from '../../lib/platform/errors';

export type FormPart =
  | { type: 'field'; name: string; value: string }
  /** The part named "file": the form goes on only as its stream is consumed (or resumed). */
  | { type: 'file'; stream: Readable; info: FileInfo }
  /** A file part of another name, or past the single file a form may hold: drained unread. */
  | { type: 'extraFile' };

// Two files: the file, and a JSON field sent as a file part (jsonField).
const LIMITS = { files: 2, fields: 100, fieldSize: 64 * 1024, parts: 120 };

/**
 * A field the document encodes as application/json (an upload's metadata) may come as a part with a
 * filename: a browser's FormData names a Blob "blob", and Swagger UI sends such a field as one. It is
 * read as the field it is, whole, and refused past a field's size.
 */
async function jsonField(name: string, stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > LIMITS.fieldSize) {
      stream.resume();
      throw new ValidationError(`the ${name} field is over ${LIMITS.fieldSize} bytes`, [{ path: name, message: `must be at most ${LIMITS.fieldSize} bytes` }]);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** busboy's streams fail on their own (a body cut short): a listener from the start, so no error is left unhandled. */
function handled(stream: Readable): Readable {
  return stream.on('error', () => {});
}

/**
 * Yields the form's parts as they arrive, and ends with the form. It throws (a 400) when the form is
 * malformed or the client goes, and `stop`'s reason once it is aborted; first come, first answered,
 * after the parts that came before. From then on, or once the caller stops, nothing more is read.
 */
export async function* readForm(req: Request, stop: AbortSignal): AsyncGenerator<FormPart> {
  const form = openForm(req);
  const arrived: FormPart[] = [];
  let end: { error?: unknown } | undefined;
  let wake = () => {};
  const arrive = (part: FormPart) => {
    if (end) return;
    arrived.push(part);
    wake();
  };
  let file: Readable | undefined;
  const finish = (error?: unknown) => {
    end ??= error === undefined ? {} : { error };
    // A file cut short must fail for whoever reads it: busboy would leave its stream waiting forever.
    if (end.error !== undefined && file && !file.readableEnded) file.destroy(end.error as Error);
    wake();
  };

  form.on('field', (name, value) => arrive({ type: 'field', name, value }));
  // The JSON fields still being read: the form ends after them.
  let jsonFields: Promise<unknown> = Promise.resolve();
  // busboy fails a file stream before its reader may have come (the body ends inside it, and the
  // reader starts only once the upload's session is open): its reader finds it failed (stream.errored).
  form.on('file', (name, stream, info) => {
    if (name === 'file' && !file && !end) {
      file = handled(stream);
      return arrive({ type: 'file', stream, info });
    }
    if (name !== 'file' && info.mimeType === 'application/json' && !end) {
      const value = jsonField(name, handled(stream));
      jsonFields = Promise.all([jsonFields, value]).then(
        ([, text]) => arrive({ type: 'field', name, value: text }),
        (err: unknown) => finish(err),
      );
      return;
    }
    handled(stream).resume();
    arrive({ type: 'extraFile' });
  });
  form.on('filesLimit', () => arrive({ type: 'extraFile' }));
  form.on('close', () => void jsonFields.then(() => finish()));
  // A DomainError is what failed the body under the form (a spent content budget: lib/limits/bodyMeter.ts).
  form.on('error', (err: Error) => finish(err instanceof DomainError ? err : new ValidationError(`malformed multipart/form-data: ${err.message}`)));
  req.on('aborted', () => finish(new ValidationError('the client closed the connection before the form ended')));
  stop.addEventListener('abort', () => finish(stop.reason), { once: true });
  req.pipe(form);

  try {
    for (;;) {
      const part = arrived.shift();
      if (part) yield part;
      else if (end?.error !== undefined) throw end.error;
      else if (end) return;
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    finish();
    req.unpipe(form);
  }
}

function openForm(req: Request) {
  try {
    return busboy({ headers: req.headers, defParamCharset: 'utf8', limits: LIMITS });
  } catch (err) {
    throw new ValidationError(`malformed multipart/form-data: ${(err as Error).message}`);
  }
}
