import { z } from 'zod';
import { ValidationError } from '../../lib/platform/errors';
import { UUID_PATTERN } from '../../lib/platform/ids';
import { MEDIA_TYPE, MEDIA_TYPE_MESSAGE, MEDIA_TYPE_NAME } from '../../lib/platform/mediaTypes';

// Lowercased: ids name workflows (`backup-{id}`, `upload-{id}`), and those names are case-sensitive.
export const uuid = z
  .string()
  .regex(UUID_PATTERN, 'must be a UUID')
  .toLowerCase()
  .meta({ examples: ['0190c6d2-7c3e-7d41-8a55-2f0e6b1c9a10'] });
export const sha256Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256 (64 characters)')
  .meta({ examples: ['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'] });

/*
 * The one rule for text a client sends that is stored or sent on. PostgreSQL refuses NUL in text, and
 * an unpaired UTF-16 surrogate has no UTF-8 form (it would be stored as U+FFFD, not as sent): both are
 * refused everywhere. Single-line text (names, labels, tags, metadata keys, content types, filters,
 * event fields) refuses every C0 control and DEL; multi-line text (descriptions, metadata values)
 * allows TAB, LF and CR among them.
 *
 * The control characters are a pattern, so the document states them. The surrogates are a check of
 * their own: a pattern naming them cannot be compiled by validators whose strings are Unicode scalar
 * values (Rust's, which schemathesis uses), and such clients cannot send one anyway.
 */

const SINGLE_LINE = /^[^\u0000-\u001f\u007f]*$/;

const MULTI_LINE = /^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$/;
// With the `u` flag a well-formed pair is one code point, so only a lone half matches.
const LONE_SURROGATE = /[\ud800-\udfff]/u;

const wellFormed = (text: string) => !LONE_SURROGATE.test(text);
const WELL_FORMED_MESSAGE = 'must not contain unpaired UTF-16 surrogates';

/** Text of at most `max` characters that `pattern` allows and that is well-formed UTF-16. */
const textOf = (pattern: RegExp, message: string) => (max: number) =>
  z.string().max(max, `must be at most ${max} characters`).regex(pattern, message).refine(wellFormed, WELL_FORMED_MESSAGE);

export const singleLine = textOf(SINGLE_LINE, 'must not contain control characters');
export const multiLine = textOf(MULTI_LINE, 'must not contain control characters other than tab, line feed and carriage return');

/*
 * Names and tags are shown as labels. A bidirectional control makes a name read as another
 * ("invoice\u202Efdp.exe" shows as "invoiceexe.pdf"), and a zero-width character makes two that look
 * the same; both are refused there, naming the code point. Prose (descriptions, metadata values)
 * keeps them: Hebrew, Arabic and Persian text needs its marks and joiners.
 */
const DISGUISING: Record<string, string> = {
  '\u061c': 'ARABIC LETTER MARK',
  '\u200b': 'ZERO WIDTH SPACE',
  '\u200c': 'ZERO WIDTH NON-JOINER',
  '\u200d': 'ZERO WIDTH JOINER',
  '\u200e': 'LEFT-TO-RIGHT MARK',
  '\u200f': 'RIGHT-TO-LEFT MARK',
  '\u202a': 'LEFT-TO-RIGHT EMBEDDING',
  '\u202b': 'RIGHT-TO-LEFT EMBEDDING',
  '\u202c': 'POP DIRECTIONAL FORMATTING',
  '\u202d': 'LEFT-TO-RIGHT OVERRIDE',
  '\u202e': 'RIGHT-TO-LEFT OVERRIDE',
  '\u2060': 'WORD JOINER',
  '\u2066': 'LEFT-TO-RIGHT ISOLATE',
  '\u2067': 'RIGHT-TO-LEFT ISOLATE',
  '\u2068': 'FIRST STRONG ISOLATE',
  '\u2069': 'POP DIRECTIONAL ISOLATE',
  '\ufeff': 'ZERO WIDTH NO-BREAK SPACE',
};
const codePointOf = (char: string) => `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
// Written as \u escapes, so the document's pattern is plain ASCII.
const UNDISGUISED = new RegExp(
  `^[^${Object.keys(DISGUISING)
    .map((c) => `\\u${codePointOf(c).slice(2).toLowerCase()}`)
    .join('')}]*$`,
);

/** Text shown as a label: single-line, without bidirectional controls or zero-width characters. */
const labelOf = (max: number) =>
  singleLine(max).regex(UNDISGUISED, {
    error: (issue) => {
      const char = [...String(issue.input)].find((c) => c in DISGUISING) ?? '';
      return `must not contain ${codePointOf(char)} (${DISGUISING[char]}): bidirectional controls and zero-width characters disguise what a name says`;
    },
  });

/** Names are stored as given and never used as a path. */
export const assetName = labelOf(1024)
  .min(1, 'must not be empty')
  .meta({ examples: ['portrait.png'] });

export const backupLabel = singleLine(256)
  .min(1, 'must not be empty')
  .meta({ examples: ['before the winter campaign'] });

/** A prefix matched against stored names. */
export const namePrefix = singleLine(1024)
  .min(1, 'must not be empty')
  .meta({ examples: ['maps/'] });

/** A content type a client gives (lib/platform/mediaTypes.ts). */
export const contentType = singleLine(255)
  .regex(MEDIA_TYPE, MEDIA_TYPE_MESSAGE)
  .meta({ examples: ['image/png'] });

/** A content type to match: a media type without parameters, or `type/*`. */
export const contentTypeFilter = singleLine(255)
  .regex(new RegExp(`^${MEDIA_TYPE_NAME}/(${MEDIA_TYPE_NAME}|\\*)$`), 'must be a media type, or type/*')
  .meta({ examples: ['image/*'] });

export const metadataObject = z
  .record(singleLine(256).min(1, 'keys must not be empty'), multiLine(4096))
  .refine((m) => Object.keys(m).length <= 64, 'at most 64 keys')
  .meta({ examples: [{ campaign: 'Curse of Strahd', character: 'Ireena' }] });

const tagRule = (text: z.ZodString) => text.min(1, 'must not be empty').regex(/^[^,\s][^,]*$/, 'tags must not start with a space or contain commas');
export const tag = tagRule(labelOf(128)).meta({ examples: ['portrait'] });
export const tagList = z
  .array(tag)
  .max(64)
  .meta({ examples: [['portrait', 'npc']] });
/** A tag to match: any tag, so that one stored before the label rule can still be found. */
export const tagFilter = tagRule(singleLine(128)).meta({ examples: ['portrait'] });

/** A user, as a token's `sub` names them (at most 255 characters, lib/auth/tokens.ts). */
export const ownerId = singleLine(255)
  .min(1, 'must not be empty')
  .meta({ examples: ['alice'] });

/** Whom a grant is for: `user:<sub>` or `group:<name>`. */
export const grantSubject = singleLine(262)
  .regex(/^(user|group):./, 'must be user:<sub> or group:<name>')
  .meta({ examples: ['group:players'] });

export const booleanParam = z
  .enum(['true', 'false'])
  .meta({ examples: ['true'] })
  .transform((v) => v === 'true');

/** The content routes' one query parameter (api/http/contentRedirect.ts); others are ignored, as before it. */
export const redirectQuery = z.object({
  redirect: booleanParam
    .optional()
    .describe(
      'true: a 307 to a short-lived presigned GET of the object store, so the bytes skip the API; false: streamed through the API; ' +
        'unset: streamed, or redirected when the object is at least STORAGE_DOWNLOAD_REDIRECT_MIN_BYTES',
    ),
});

/** The most items a page holds: a larger limit is lowered to it (api/http/lists.ts says so in Limit-Applied). */
export const MAX_PAGE_LIMIT = 1000;

/**
 * A page's position: opaque, as next_cursor gave it (lib/platform/pagination.ts checks it). The document
 * states only that it is at most 1024 URL-safe characters, which keeps a request's line bounded.
 */
export const cursorParam = z
  .string()
  .max(1024, 'invalid cursor: pass a next_cursor as it was given')
  .regex(/^[A-Za-z0-9_-]*$/, 'invalid cursor: pass a next_cursor as it was given')
  .meta({ examples: ['eyJhZnRlciI6IjAxOTBjNmQyIn0'] });

export const pageQuery = {
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .meta({ examples: [50] })
    .default(50)
    .transform((n) => Math.min(n, MAX_PAGE_LIMIT))
    .describe(`items a page: over ${MAX_PAGE_LIMIT} is lowered to ${MAX_PAGE_LIMIT}, and the answer then carries Limit-Applied`),
  cursor: cursorParam.optional().describe('the next page: a next_cursor as it was given'),
};

/** A time as the document's examples give one. */
export const TIME_EXAMPLE = '2026-12-01T18:00:00Z';

const createdTime = z.iso
  .datetime({ offset: true })
  .meta({ examples: [TIME_EXAMPLE] })
  .transform((v) => new Date(v));

/** The time filters of a list of things that have a created_at: each excludes the time itself, as the assets' always have. */
export const createdFilters = {
  created_after: createdTime.optional().describe('those created after this time'),
  created_before: createdTime.optional().describe('those created before this time'),
};

/** The status filter of a list of jobs (backups, restores, lifecycle runs): their status as the list shows it. */
export const jobStatusFilter = z
  .enum(['pending', 'running', 'completed', 'failed'])
  .meta({ examples: ['completed'] })
  .optional()
  .describe('those of this status only');

/** A name a list still takes for one that replaced it: marked deprecated in the document (its successor named). */
export const deprecatedName = <T extends z.ZodType>(schema: T, successor: string, note = '') =>
  schema.meta({ deprecated: true, description: `deprecated: use ${successor}${note}` });

/** Parses with zod; failures become one 400 problem listing every bad path. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors = result.error.issues.map((issue) => ({
    path: fieldPath(issue.path) || where,
    // A record's bad key: the key's own rule says what is wrong with it.
    message: issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message,
  }));
  // The first problem in the detail too, for a client that shows only the detail.
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more in errors)` : '';
  throw new ValidationError(`invalid ${where}: ${errors[0].path} ${errors[0].message}${more}`, errors);
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** A path as a client writes it: `metadata.a`, `tags[0]`, `rules[0].days`, `metadata["a b"]`. */
function fieldPath(path: PropertyKey[]): string {
  return path
    .map((key, i) => {
      if (typeof key === 'number') return `[${key}]`;
      const name = String(key);
      if (!PLAIN_KEY.test(name)) return `[${JSON.stringify(name)}]`;
      return i === 0 ? name : `.${name}`;
    })
    .join('');
}

export const idParams = z.object({ id: uuid });
export const versionParams = z.object({ id: uuid, version_id: uuid });
