/**
 * What the HTTP server answers when a request cannot reach the app at all (http.Server's
 * 'clientError'): headers past Node's size limit (431), a request that did not arrive whole within
 * the request timeout (408), anything the HTTP parser refuses (400, a broken chunked body too).
 * Node's own answer has no body; this one is problem+json, as every other refusal is.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { defaultKindOf, problemTypeOf } from './problemTypes';

const STATUS_OF: Record<string, number> = { HPE_HEADER_OVERFLOW: 431, ERR_HTTP_REQUEST_TIMEOUT: 408 };

function detailOf(status: number, err: NodeJS.ErrnoException, requestTimeoutMs: number): string {
  if (status === 431) return `the request's headers are larger than the ${http.maxHeaderSize} bytes the server reads`;
  if (status === 408) return `the request did not arrive whole within ${requestTimeoutMs} ms`;
  return `malformed HTTP request (${err.code ?? err.message})`;
}

export function answerClientErrors(server: http.Server, requestTimeoutMs: number): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // As Node does: nothing is written to a socket that is gone, or under an answer already begun
    // (the app's, to a request whose body was still coming).
    const answer = (socket as Duplex & { _httpMessage?: http.ServerResponse })._httpMessage;
    if (err.code !== 'ECONNRESET' && socket.writable && !answer?.headersSent) {
      const status = STATUS_OF[err.code ?? ''] ?? 400;
      const title = http.STATUS_CODES[status]!;
      const body = JSON.stringify({ type: problemTypeOf(defaultKindOf(status)), title, status, detail: detailOf(status, err, requestTimeoutMs), errors: [] });
      socket.write(
        `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    // Without the error: the server no longer listens for the socket's errors, and this one is answered.
    socket.destroy();
  });
}
