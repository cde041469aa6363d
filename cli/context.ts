/**
 * What every command shares: the server and token it talks to (--api / STORAGE_API_URL, --token /
 * STORAGE_TOKEN), --json, the exit codes, and where progress goes (stderr, only on a terminal).
 */
import { Command, InvalidArgumentError } from 'commander';
import { createStorageClient, retryingSend, StorageProblem, unwrap, type StorageClient } from '../client';
import { printable } from './fileNames';

/** The exit codes of every command (`storage --help` shows EXIT_CODES_HELP). */
export const EXIT = { ok: 0, failed: 1, usage: 2, notFound: 3, denied: 4, unavailable: 5 } as const;

export const EXIT_CODES_HELP = `Exit codes (every command):
  0  ok
  1  the operation failed (a run that failed, a checksum mismatch, a conflict, a server error)
  2  bad usage or bad input: refused here, or by the server (400, 413, 415, 422)
  3  not found (404)
  4  not allowed (401, 403)
  5  the service unavailable or over a limit after the retries (503, 429, 507, no connection)
`;

// The answers of the server that say what the request itself is wrong, too large or of a refused type.
const BAD_INPUT = new Set([400, 413, 415, 422]);
// Answers that another try later could change: the client has retried 429 and 503 already.
const UNAVAILABLE = new Set([429, 503, 507]);
// A server that cannot be reached at all is as unavailable as one answering 503.
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

export const DEFAULT_API_URL = 'http://127.0.0.1:8005';

/** A failure the CLI found itself (a checksum mismatch, a run that failed), with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

export interface GlobalOptions {
  api: string;
  token?: string;
  json: boolean;
}

export interface Ctx {
  client: StorageClient;
  api: string;
  json: boolean;
  /** Sends a request built anew per attempt, with the client's retries (a form over a file is read again, not kept). */
  send(requestFor: (last: boolean) => Request): Promise<Response>;
  /** Progress bars are drawn only for a person watching stderr. */
  interactive: boolean;
  /** Human-readable lines go to stdout unless --json took it; a control character in them is shown escaped, never sent to the terminal. */
  say(line: string): void;
  /** The API's JSON, for scripts. */
  printJson(value: unknown): void;
  warn(line: string): void;
}

export function contextOf(command: Command): Ctx {
  const opts = command.optsWithGlobals<GlobalOptions>();
  const onRetry = ({ status, delayMs }: { status: number; delayMs: number }) =>
    process.stderr.write(
      `storage: ${status === 0 ? 'the connection failed before an answer' : `the server answered ${status}`}; trying again in ${(delayMs / 1000).toFixed(1)} s\n`,
    );
  const client = createStorageClient({ baseUrl: opts.api, token: opts.token, onRetry });
  return {
    client,
    send: retryingSend(globalThis.fetch, { onRetry }),
    api: opts.api.replace(/\/+$/, ''),
    json: Boolean(opts.json),
    interactive: Boolean(process.stderr.isTTY),
    say: (line) => {
      if (!opts.json) process.stdout.write(`${printable(line)}\n`);
    },
    printJson: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    warn: (line) => process.stderr.write(`${printable(line)}\n`),
  };
}

export { unwrap };

export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof StorageProblem) {
    if (BAD_INPUT.has(err.status)) return EXIT.usage;
    if (err.status === 404) return EXIT.notFound;
    if (err.status === 401 || err.status === 403) return EXIT.denied;
    if (UNAVAILABLE.has(err.status)) return EXIT.unavailable;
    return EXIT.failed;
  }
  if (err instanceof Error && UNREACHABLE.has(codeOf(err.cause))) return EXIT.unavailable;
  return EXIT.failed;
}

/** The system error code of fetch's cause (an AggregateError when every address of a host refused). */
function codeOf(cause: unknown): string {
  if (!(cause instanceof Error)) return '';
  const code = (cause as NodeJS.ErrnoException).code;
  if (code) return code;
  return cause instanceof AggregateError ? codeOf(cause.errors[0]) : '';
}

export function messageOf(err: unknown): string {
  if (err instanceof StorageProblem) return `${err.message}${err.requestId ? ` [request ${err.requestId}]` : ''}`;
  if (err instanceof Error) return (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) || String(err);
  return String(err);
}

/** `--metadata k=v` (repeatable) into an object. */
export function keyValue(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${value}"`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

/** Repeatable and comma-separated values (`--tags a,b --tags c`). */
export function list(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  ];
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
/** `90`, `90s`, `15m`, `1h`, `7d` into seconds. */
export function duration(value: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(value.trim());
  if (!match || Number(match[1]) <= 0) throw new InvalidArgumentError(`expected a duration such as 90s, 15m, 1h or 7d, got "${value}"`);
  return Number(match[1]) * UNITS[match[2] || 's'];
}

/** `1 object`, `2 objects`: a count with its noun in agreement. */
export function counted(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** `12.3 MiB` */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

// A column cut to fit keeps at least this much of itself (or its header).
const MIN_COLUMN = 8;

/**
 * Columns padded in a terminal, within its width: what is too wide is cut with an ellipsis, the
 * widest of the `shrinkable` columns first (a row that wraps reads as two). Off a terminal,
 * tab-separated and whole, for cut and awk.
 */
export function table(rows: string[][], header: string[], shrinkable: number[] = []): string {
  // A cell is one line: a name holding a tab or a line feed must not make a row of its own.
  const cells = rows.map((r) => r.map((cell) => printable(cell, /$^/)));
  if (!process.stdout.isTTY) return cells.map((r) => r.join('\t')).join('\n');
  const all = [header, ...cells];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const floor = (i: number) => Math.max(header[i].length, MIN_COLUMN);
  let over = widths.reduce((sum, w) => sum + w, 2 * (widths.length - 1)) - (process.stdout.columns || 120);
  for (; over > 0; over--) {
    const widest = shrinkable.filter((i) => widths[i] > floor(i)).sort((x, y) => widths[y] - widths[x])[0];
    if (widest === undefined) break;
    widths[widest]--;
  }
  const fit = (cell: string, width: number) => (cell.length > width ? `${cell.slice(0, width - 1)}…` : cell);
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? fit(cell, widths[i]) : fit(cell, widths[i]).padEnd(widths[i]))).join('  ')).join('\n');
}

export function example(text: string): string {
  return `\nExample:\n  $ ${text}\n`;
}
