import { z } from 'zod';
import {
  assetName,
  singleLine,
  multiLine,
  booleanParam,
  contentType,
  contentTypeFilter,
  grantSubject,
  metadataObject,
  namePrefix,
  ownerId,
  pageQuery,
  sha256Hex,
  tagFilter,
  tagList,
  TIME_EXAMPLE,
} from './common';

/** A query parameter given once or repeated (`?tag=a&tag=b`). */
const repeatedTag = z
  .union([z.string(), z.array(z.string())])
  .meta({ examples: ['portrait'] })
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .pipe(z.array(tagFilter));

export const listAssetsQuery = z
  .object({
    ...pageQuery,
    name_prefix: namePrefix.optional(),
    content_type: contentTypeFilter.optional(),
    tag: repeatedTag.optional(),
    created_after: z.iso
      .datetime({ offset: true })
      .meta({ examples: [TIME_EXAMPLE] })
      .transform((v) => new Date(v))
      .optional(),
    created_before: z.iso
      .datetime({ offset: true })
      .meta({ examples: [TIME_EXAMPLE] })
      .transform((v) => new Date(v))
      .optional(),
    owner_id: ownerId.optional().describe("those of this owner only, among those the caller may read (an admin's: anyone's)"),
    include_deleted: booleanParam.optional().describe('soft-deleted assets too'),
    only_deleted: booleanParam.optional().describe('soft-deleted assets only (the trash); include_deleted is then moot'),
    sort: z.enum(['created_at', '-created_at', 'name']).default('-created_at'),
  })
  .strict();

export const includeDeletedQuery = z.object({ include_deleted: booleanParam.optional() });

export const updateAssetBody = z
  .object({
    name: assetName.optional(),
    content_type: contentType.optional(),
    metadata: metadataObject.optional(),
    tags: tagList.optional(),
  })
  .strict();

/** PATCH /assets/{id} (application/merge-patch+json, RFC 7396): in `metadata` a null removes its key; a null `metadata` or `tags` empties it. */
export const assetPatchBody = z
  .object({
    name: assetName.optional(),
    content_type: contentType.optional(),
    metadata: z
      .record(singleLine(256).min(1, 'keys must not be empty'), multiLine(4096).nullable())
      .refine((m) => Object.keys(m).length <= 64, 'at most 64 keys')
      .nullable()
      .meta({ examples: [{ campaign: 'Curse of Strahd', draft: null }] })
      .optional()
      .describe("merged into the asset's: a key given replaces its value, a null removes it; null: no metadata"),
    tags: tagList.nullable().optional().describe('replaces every tag; null: none'),
  })
  .strict();

export const deleteAssetQuery = z.object({ permanent: booleanParam.optional() }).strict();

/**
 * An optional form field sent empty is one not sent, as a browser's form sends an input left blank
 * (and Swagger UI's "Try it out" each optional field: api/routes/reference.ts).
 */
const unlessEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

/** The text fields of an upload form (multipart), checked once the whole form has been read. */
export const uploadFormFields = z
  .object({
    name: unlessEmpty(assetName),
    content_type: unlessEmpty(contentType),
    metadata: unlessEmpty(
      z.string().transform((text, ctx) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be a JSON object of strings' });
          return z.NEVER;
        }
      }),
    ).pipe(metadataObject.optional()),
    // Blank tags fields come as no tags (api/uploads/simpleUpload.ts splits them): as if not sent, so a new version keeps its asset's.
    tags: z.preprocess((tags) => (Array.isArray(tags) && tags.length === 0 ? undefined : tags), tagList.optional()),
    checksum_sha256: unlessEmpty(sha256Hex),
    owner_id: unlessEmpty(ownerId),
  })
  .strict();

/** A new version's form: the version belongs to its asset, so it names no owner. */
export const versionFormFields = uploadFormFields.omit({ owner_id: true });

/** PUT /assets/{id}/grants: the asset's grants, all of them. A subject named twice keeps the wider access (write includes read). */
export const grantsBody = z
  .array(z.object({ subject: grantSubject, access: z.enum(['read', 'write']) }).strict())
  .max(256)
  .transform((grants) => {
    const widest = new Map<string, 'read' | 'write'>();
    for (const { subject, access } of grants) if (widest.get(subject) !== 'write') widest.set(subject, access);
    return [...widest].map(([subject, access]) => ({ subject, access }));
  });

const binary = z.string().meta({ format: 'binary' });

/** The upload form as the document describes it (a form is read field by field: api/uploads/simpleUpload.ts). */
const uploadForm = z
  .object({
    file: binary,
    name: assetName.optional().describe("default: the file's name"),
    content_type: contentType.optional(),
    metadata: metadataObject.optional().describe('a JSON object of strings, in a field of its own'),
    tags: z
      .array(singleLine(128))
      .meta({ examples: [['portrait', 'npc']] })
      .optional()
      .describe('repeated, or comma-separated'),
    checksum_sha256: sha256Hex.optional(),
    owner_id: ownerId.optional().describe('services and admins: the user a new asset is made for (default: the caller)'),
  })
  .strict();
// The metadata field is JSON text: the encoding says so, and the schema describes what it holds.
const formEncoding = { metadata: { contentType: 'application/json' } };
export const uploadFormBody = { schema: uploadForm, content: 'multipart/form-data', encoding: formEncoding };
export const versionFormBody = { schema: uploadForm.omit({ owner_id: true }), content: 'multipart/form-data', encoding: formEncoding };
