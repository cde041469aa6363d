import { z } from 'zod';
import { sourceUrlPattern, sourceUrlProblem } from '../../lib/uploads/sourceRules';
import { TIME_EXAMPLE, assetName, backupLabel, contentType, ownerId, sha256Hex, singleLine, uuid } from './common';

const sourceUrlExample = (allowedHosts: string[]) => {
  const host = allowedHosts[0];
  return host && new RegExp(sourceUrlPattern(allowedHosts)).test(`https://${host}/portraits/ireena.png`)
    ? { examples: [`https://${host}/portraits/ireena.png`] }
    : {};
};

const assetRequestedData = (allowedHosts: string[]) =>
  z
    .object({
      source_url: singleLine(4096)
        .min(1, 'must not be empty')
        .regex(new RegExp(sourceUrlPattern(allowedHosts)), {
          error: (issue) =>
            sourceUrlProblem(String(issue.input), allowedHosts) ??
            'must be an http(s) URL on a host and port of STORAGE_INGEST_ALLOWED_HOSTS, without credentials or white space',
        })
        // A URL on the first allowed host; with none allowed no URL is valid, and none is given.
        .meta(sourceUrlExample(allowedHosts)),
      name: assetName,
      content_type: contentType.optional(),
      checksum_sha256: sha256Hex.optional(),
      asset_id: uuid.optional(),
      owner_id: ownerId.optional(),
    })
    .strict();

const backupRequestedData = z
  .object({
    label: backupLabel.optional(),
    asset_ids: z
      .array(uuid)
      .min(1)
      .max(1000)
      .meta({ examples: [['0190c6d2-7c3e-7d41-8a55-2f0e6b1c9a10']] })
      .optional(),
    include_all_versions: z.boolean().optional(),
  })
  .strict();

const policyUpdatedData = z.object({ policy_id: uuid }).strict();

/** CloudEvents 1.0, structured mode: the envelope every incoming event must have. */
const envelope = {
  specversion: z.literal('1.0'),
  id: singleLine(256)
    .min(1, 'must not be empty')
    .meta({ examples: ['6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f'] }),
  source: singleLine(1024)
    .min(1, 'must not be empty')
    .meta({ examples: ['/character-creator'] }),
  subject: singleLine(1024)
    .meta({ examples: ['portrait.png'] })
    .optional(),
  time: z.iso
    .datetime({ offset: true })
    .meta({ examples: [TIME_EXAMPLE] })
    .optional(),
  datacontenttype: z
    .string()
    .meta({ examples: ['application/json'] })
    .optional(),
};

/**
 * An event of a subscribed type, with the data that type carries (so a bad field is `data.name`).
 * Built from the ingest allow-list, which the document states as the source URL's pattern.
 */
export const incomingEventFor = (ingestAllowedHosts: string[]) =>
  z.discriminatedUnion(
    'type',
    [
      z.object({ ...envelope, type: z.literal('service.asset.requested'), data: assetRequestedData(ingestAllowedHosts) }),
      z.object({ ...envelope, type: z.literal('service.backup.requested'), data: backupRequestedData.default({}) }),
      z.object({ ...envelope, type: z.literal('service.policy.updated'), data: policyUpdatedData }),
    ],
    {
      error: (issue) =>
        issue.code === 'invalid_union' ? `unknown type: this service subscribes to ${SUBSCRIBED_TYPES.join(', ')}` : 'must be a CloudEvent (an object)',
    },
  );

export const SUBSCRIBED_TYPES: string[] = incomingEventFor([]).options.map((event) => event.shape.type.value);
