/** The harness's one HTTP call: a bounded wait, its own request id, and an answer (status 0) instead of a throw. */
export interface Answer {
  status: number;
  body: any;
  error?: string;
}

const TIMEOUT_MS = 60_000;

export async function send(url: string, token: string, requestId: string, init: RequestInit & { json?: unknown } = {}): Promise<Answer> {
  const { json, ...rest } = init;
  try {
    const res = await fetch(url, {
      ...rest,
      signal: AbortSignal.timeout(TIMEOUT_MS),
      headers: {
        authorization: `Bearer ${token}`,
        'x-request-id': requestId,
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
        ...(rest.headers as Record<string, string> | undefined),
      },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    const text = await res.text();
    let body: unknown = text;
    if (/json/.test(res.headers.get('content-type') ?? '') && text) body = JSON.parse(text);
    return { status: res.status, body };
  } catch (err) {
    return { status: 0, body: undefined, error: String((err as Error)?.cause ?? err) };
  }
}

/** The bytes of a download, or the status that refused it. */
export async function fetchBytes(url: string, token: string): Promise<{ status: number; bytes?: Buffer; error?: string }> {
  try {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(TIMEOUT_MS) });
    const bytes = Buffer.from(await res.arrayBuffer());
    return res.ok ? { status: res.status, bytes } : { status: res.status };
  } catch (err) {
    return { status: 0, error: String(err) };
  }
}

/** What a refusal or failure said, short enough for one history line. */
export function noteOf(answer: Answer): string | undefined {
  if (answer.status >= 200 && answer.status < 300) return undefined;
  return answer.error ?? (typeof answer.body === 'object' ? (answer.body?.detail ?? JSON.stringify(answer.body)) : String(answer.body ?? '').slice(0, 200));
}
