/**
 * Meters a request body as Node's HTTP parser hands it over, so that what is counted is what arrives,
 * whatever the framing (a Content-Length, or chunks with none) and whichever router reads it and how
 * (busboy, a part or a tus PATCH streamed to the store, a refused body drained). Every byte is
 * charged, one charge in flight at a time (bytes that arrive meanwhile go into the next), and the
 * body's end is passed on only once every byte is charged: a reader never sees a whole body whose
 * last bytes were over the budget.
 *
 * `charge` answers the error that refuses the bytes, if it does. The first refusal fails every
 * stream the body is piped to with it, and any it is piped to later, and unpipes them: each reader
 * then fails its request as it fails for a body cut short, with that error (a 429), and keeps nothing
 * of it. A charge that throws (the budgets' store failing) lets the bytes pass, as a request whose
 * budget could not be read does.
 */
import type { IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';

export function meterBody(req: IncomingMessage, charge: (bytes: number) => Promise<Error | undefined>): void {
  const push = req.push.bind(req);
  const pipe = req.pipe.bind(req);
  const readers = new Set<Writable>();
  let refused: Error | undefined;
  // Bytes pushed before the meter was put on (the parser may have read some already) are charged too.
  let unpaid = req.readableLength;
  let charging = false;
  let endWaiting = false;

  const refuse = (refusal: Error) => {
    refused = refusal;
    for (const reader of readers) {
      req.unpipe(reader);
      reader.destroy(refused);
    }
    readers.clear();
  };

  const chargeUnpaid = () => {
    if (charging) return;
    if (unpaid === 0) {
      if (endWaiting) push(null);
      endWaiting = false;
      return;
    }
    charging = true;
    const bytes = unpaid;
    unpaid = 0;
    charge(bytes)
      .catch(() => undefined)
      .then((refusal) => {
        charging = false;
        if (refusal && !refused) refuse(refusal);
        chargeUnpaid();
      });
  };

  req.push = (chunk: Buffer | null, encoding?: BufferEncoding) => {
    if (chunk === null) {
      endWaiting = true;
      chargeUnpaid();
      return false;
    }
    unpaid += chunk.length;
    chargeUnpaid();
    return push(chunk, encoding);
  };

  req.pipe = <T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T => {
    if (refused) {
      (destination as unknown as Writable).destroy(refused);
      return destination;
    }
    readers.add(destination as unknown as Writable);
    return pipe(destination, options);
  };
}
