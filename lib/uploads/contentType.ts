/**
 * The type a version is stored with (issue 29): what its client declared, read against what its first
 * bytes are (file-type's magic numbers). A client that declares nothing, or only
 * application/octet-stream, gets the type its bytes show; a new version without one keeps its asset's
 * type when its bytes agree with it (or show nothing: text has no magic number). A declared image type
 * that its bytes contradict (a JPEG sent as image/png, a PDF or an executable as image/*) is refused:
 * it would be shown inline as an image it is not. Any other declared type is taken as given.
 *
 * What sniffing may give is one of file-type's types: raster images, audio, video, documents and
 * archives, none of them a type that runs script (HTML, SVG, JavaScript are not detected, and XML
 * is served as an attachment: api/http/contentPresentation.ts).
 */
import { fromBuffer } from 'file-type';
import { essenceOf } from '../platform/mediaTypes';

/** How many first bytes the detection reads: file-type's own minimum for the types it knows. */
export const SNIFF_BYTES = 4100;

const UNDECLARED = 'application/octet-stream';

/** Names of one format that clients and file-type spell differently, each mapped to one of them. */
const SAME_FORMAT: Record<string, string> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  // An animated PNG is a PNG to every decoder that does not animate it.
  'image/apng': 'image/png',
  'image/x-png': 'image/png',
  'image/vnd.microsoft.icon': 'image/x-icon',
  'image/x-ms-bmp': 'image/bmp',
  'image/heic': 'image/heif',
  'image/heic-sequence': 'image/heif',
  'image/heif-sequence': 'image/heif',
  // Camera raw formats that are TIFF files, which file-type tells apart by their maker's tags.
  'image/x-canon-cr2': 'image/tiff',
  'image/x-nikon-nef': 'image/tiff',
  'image/x-adobe-dng': 'image/tiff',
  'image/x-sony-arw': 'image/tiff',
  'image/x-panasonic-rw2': 'image/tiff',
  'image/jpx': 'image/jp2',
  'image/jpm': 'image/jp2',
  'audio/x-flac': 'audio/flac',
  'audio/vnd.wave': 'audio/wav',
  'audio/x-wav': 'audio/wav',
  'audio/wave': 'audio/wav',
  'audio/x-m4a': 'audio/mp4',
  'video/x-m4v': 'video/mp4',
};

const formatOf = (essence: string) => SAME_FORMAT[essence] ?? essence;

/** Whether the bytes of `detected` may carry `type`: the same format, or an XML-based one (SVG) of bytes that are XML. */
export function agrees(type: string, detected: string): boolean {
  const essence = essenceOf(type);
  if (essence === undefined) return false;
  if (detected === 'application/xml' && essence.endsWith('+xml')) return true;
  return formatOf(essence) === formatOf(detected);
}

/**
 * Types file-type tells from two bytes or fewer (or a masked frame header): random bytes are one of
 * them once in about 1,700 objects (measured over 2 million), and an upload of such bytes declared
 * image/png would be refused. Each is taken only when a longer mark confirms it (null: never).
 */
const WEAK_SIGNATURES: Record<string, ((head: Buffer) => boolean) | null> = {
  'audio/mpeg': (head) => startsWith(head, 'ID3'),
  'application/postscript': (head) => startsWith(head, '%!PS'),
  'application/x-msdownload': hasPeHeader,
  // A BMP's four reserved bytes are zero.
  'image/bmp': (head) => head.length >= 10 && head.readUInt32LE(6) === 0,
  // The container's signature box; a bare codestream is only FF 0A.
  'image/jxl': (head) => head.subarray(4, 8).toString('latin1') === 'JXL ',
  'audio/aac': null,
  'audio/vnd.dolby.dd-raw': null,
  'application/x-compress': null,
  'application/x-apple-diskimage': null,
  'video/mp2t': null,
};

const startsWith = (head: Buffer, mark: string) => head.subarray(0, mark.length).toString('latin1') === mark;

/** A Windows program: its MZ header points (at 0x3C) to the PE signature. */
function hasPeHeader(head: Buffer): boolean {
  if (head.length < 0x40) return false;
  const at = head.readUInt32LE(0x3c);
  return at + 4 <= head.length && head.readUInt32BE(at) === 0x50450000;
}

/** What the first bytes of an object are, as file-type knows them; undefined when they show no known format, or only a weak sign of one. */
export async function detectedTypeOf(head: Buffer): Promise<string | undefined> {
  const mime = (await fromBuffer(head))?.mime;
  if (mime === undefined || !(mime in WEAK_SIGNATURES)) return mime;
  return WEAK_SIGNATURES[mime]?.(head) ? mime : undefined;
}

export interface TypeFacts {
  /** The type the upload was given: its form's, its session's, its event's, or the version it copies. */
  declared: string;
  /** What its first bytes are (detectedTypeOf). */
  detected: string | undefined;
  /** The asset's type, when the upload is a new version of it. */
  current?: string;
  /** Whether a contradicting image type is refused: a restore copies bytes that were stored once, and brings them back as they were. */
  refuses: boolean;
}

export type TypeDecision = { contentType: string } | { refused: { declared: string; detected: string } };

/**
 * Whether decideContentType reads `detected` for an upload declared so: only an undeclared type takes
 * what the bytes are, and only a declared image type may be refused for them. Any other is stored as
 * declared, and its commit need not read the object.
 */
export function typeDependsOnBytes({ declared, refuses }: Pick<TypeFacts, 'declared' | 'refuses'>): boolean {
  return isUndeclared(declared) || isRefusableImage(declared, refuses);
}

const isRefusableImage = (declared: string, refuses: boolean) => refuses && essenceOf(declared)?.startsWith('image/') === true;

/** The type a version is stored with, or its refusal (see the module's comment). */
export function decideContentType({ declared, detected, current, refuses }: TypeFacts): TypeDecision {
  if (isUndeclared(declared)) {
    if (current !== undefined && !isUndeclared(current) && (detected === undefined || agrees(current, detected))) return { contentType: current };
    return { contentType: detected ?? declared };
  }
  if (detected !== undefined && isRefusableImage(declared, refuses) && !agrees(declared, detected)) {
    return { refused: { declared, detected } };
  }
  return { contentType: declared };
}

function isUndeclared(type: string): boolean {
  return essenceOf(type) === UNDECLARED;
}

/** The refusal's words, which the upload's answer and its session's error carry. */
export function refusalMessage({ declared, detected }: { declared: string; detected: string }): string {
  return `content type mismatch: ${declared} was declared, but the bytes are ${detected}; nothing was stored: send it as ${detected}, or send the right file`;
}

const REFUSAL = /^content type mismatch: (\S+(?: \S+)*?) was declared, but the bytes are (\S+);/;

/**
 * The types a session's error names when it ended refused so (refusalMessage): its row keeps the
 * message, not the failure's type, and a later read of it (a repeated complete, its operation)
 * answers the same 415 as the first.
 */
export function refusedTypesIn(error: string | null): { declared: string; detected: string } | undefined {
  const match = error === null ? null : REFUSAL.exec(error);
  return match ? { declared: match[1], detected: match[2] } : undefined;
}
