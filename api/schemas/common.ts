import { z } from 'zod';
import { ValidationError } from '../../lib/errors';
import { UUID_PATTERN } from '../../lib/ids';

// Lowercased: ids name workflows (`backup-{id}`, `upload-{id}`), and those names are case-sensitive.
export const uuid = z.string().regex(UUID_PATTERN, 'must be a UUID').toLowerCase();
export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256 (64 characters)');

/** Names are stored as given and never used as a path; control characters and very long names are refused. */
export const assetName = z
  .string()
  .min(1, 'must not be empty')
  .max(1024, 'must be at most 1024 characters')
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

export const contentType = z
  .string()
  .max(255)
  .regex(/^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*(\s*;.*)?$/i, 'must be a media type such as image/png');

export const metadataObject = z
  .record(z.string().min(1).max(256), z.string().max(4096, 'values must be at most 4096 characters'))
  .refine((m) => Object.keys(m).length <= 64, 'at most 64 keys');

export const tagList = z.array(z.string().min(1).max(128).regex(/^[^,\s][^,]*$/, 'tags must not contain commas')).max(64);

export const booleanParam = z.enum(['true', 'false']).transform((v) => v === 'true');

export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  cursor: z.string().min(1).max(1024).optional(),
};

/** Parses with zod; failures become one 400 problem listing every bad path. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(
    `invalid ${where}`,
    result.error.issues.map((issue) => ({ path: issue.path.join('.') || where, message: issue.message })),
  );
}

export const idParams = z.object({ id: uuid });
export const versionParams = z.object({ id: uuid, versionId: uuid });
