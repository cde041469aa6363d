/**
 * Malformed multipart/form-data bodies for the fuzzer (test/fuzz.test.ts): a valid upload form, then
 * one to three mutations drawn from a seeded generator, so a run sends the same bodies every time.
 */
import { mulberry32 } from './mulberry32';

export interface MalformedForm {
  /** The mutations applied, in order: what a failure names. */
  mutations: string[];
  contentType: string;
  body: Buffer;
}

const BOUNDARY = 'fuzzBoundary7MA4YWxk';

function validForm(fileBytes: Buffer): Buffer {
  const field = (name: string, value: string) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  return Buffer.concat([
    Buffer.from(field('name', 'fuzzed.bin') + field('tags', 'fuzz')),
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="fuzzed.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    fileBytes,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
}

type Mutation = (body: Buffer, pick: (n: number) => number) => [string, Buffer] | [string, Buffer, string];

const MUTATIONS: Mutation[] = [
  (body, pick) => {
    const at = pick(body.length);
    return [`cut at ${at}`, body.subarray(0, at)];
  },
  (body) => {
    const at = body.lastIndexOf(`\r\n--${BOUNDARY}--`);
    return [`closing boundary dropped`, at < 0 ? body : body.subarray(0, at)];
  },
  (body, pick) => {
    const at = pick(body.length);
    const copy = Buffer.from(body);
    for (let i = 0; i < 8 && at + i < copy.length; i++) copy[at + i] = pick(256);
    return [`8 bytes scrambled at ${at}`, copy];
  },
  (body, pick) => {
    const crlfs = [...body.toString('latin1').matchAll(/\r\n/g)].map((m) => m.index!);
    const at = crlfs[pick(crlfs.length)];
    return [`CRLF at ${at} removed`, Buffer.concat([body.subarray(0, at), body.subarray(at + 2)])];
  },
  (body, pick) => {
    const from = pick(body.length);
    const to = Math.min(body.length, from + pick(4096));
    return [`bytes ${from}..${to} repeated`, Buffer.concat([body.subarray(0, to), body.subarray(from, to), body.subarray(to)])];
  },
  (body, pick) => {
    const size = 1 + pick(128 * 1024);
    const at = body.indexOf('Content-Disposition: form-data; name="file"');
    return [`a part header line of ${size} bytes`, Buffer.concat([body.subarray(0, at), Buffer.from(`X-Filler: ${'h'.repeat(size)}\r\n`), body.subarray(at)])];
  },
  (body, pick) => {
    const count = 1 + pick(50_000);
    const fields = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="tags"\r\n\r\nt\r\n`.repeat(count));
    return [`${count} more fields`, Buffer.concat([fields, body])];
  },
  (body) => [`another boundary in the header`, body, `multipart/form-data; boundary=${BOUNDARY}X`],
  (body) => [`no boundary in the header`, body, 'multipart/form-data'],
  (body, pick) => {
    const parts = 1 + pick(3);
    const extra = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="again.bin"\r\n\r\nxyz\r\n`.repeat(parts));
    const at = body.lastIndexOf(`--${BOUNDARY}--`);
    return [`${parts} more file parts`, at < 0 ? Buffer.concat([body, extra]) : Buffer.concat([body.subarray(0, at), extra, body.subarray(at)])];
  },
];

/** `count` malformed forms from `seed`, each a valid form (a file of up to 64 KiB) with 1 to 3 mutations. */
export function malformedForms(seed: number, count: number): MalformedForm[] {
  const random = mulberry32(seed);
  const pick = (n: number) => Math.floor(random() * n);
  return Array.from({ length: count }, () => {
    let body = validForm(Buffer.from(Array.from({ length: pick(64 * 1024) }, () => pick(256))));
    let contentType = `multipart/form-data; boundary=${BOUNDARY}`;
    const mutations: string[] = [];
    for (let i = 1 + pick(3); i > 0; i--) {
      const [name, mutated, type] = MUTATIONS[pick(MUTATIONS.length)](body, pick);
      mutations.push(name);
      body = mutated;
      contentType = type ?? contentType;
    }
    return { mutations, contentType, body };
  });
}
