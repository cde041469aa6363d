import { z } from 'zod';
import { assetName, contentType, sha256Hex, uuid } from './common';

/** CloudEvents 1.0, structured mode: the envelope every incoming event must have. */
export const cloudEventEnvelope = z.object({
  specversion: z.literal('1.0'),
  id: z.string().min(1).max(256),
  source: z.string().min(1).max(1024),
  type: z.string().min(1).max(256),
  subject: z.string().max(1024).optional(),
  time: z.iso.datetime({ offset: true }).optional(),
  datacontenttype: z.string().optional(),
  data: z.unknown(),
});

export const assetRequestedData = z
  .object({
    source_url: z.string().min(1).max(4096),
    name: assetName,
    content_type: contentType.optional(),
    checksum_sha256: sha256Hex.optional(),
    asset_id: uuid.optional(),
  })
  .strict();

export const backupRequestedData = z
  .object({
    label: z.string().max(256).optional(),
    asset_ids: z.array(uuid).min(1).max(1000).optional(),
    include_all_versions: z.boolean().optional(),
  })
  .strict();

export const policyUpdatedData = z.object({ policy_id: uuid }).strict();

export const SUBSCRIBED_TYPES = ['service.asset.requested', 'service.backup.requested', 'service.policy.updated'] as const;
