/** Which incomplete multipart uploads the lifecycle run's cleanup aborts (lib/uploads/incompleteUploads.ts). */
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Knex } from 'knex';
import { abortIncompleteUploads } from '../../lib/uploads/incompleteUploads';

const DAY_MS = 24 * 60 * 60 * 1000;

/** A store listing `uploads` on one page, recording what it is asked to abort. */
function storeListing(uploads: { Key: string; UploadId: string; Initiated?: Date }[]) {
  const aborted: string[] = [];
  const s3 = {
    send: async (command: unknown) => {
      if (command instanceof ListMultipartUploadsCommand) return { Uploads: uploads, IsTruncated: false };
      if (command instanceof AbortMultipartUploadCommand) aborted.push(command.input.UploadId!);
      return {};
    },
  } as unknown as S3Client;
  return { s3, aborted };
}

// No session writes to any key: the catalog's answer is always empty.
const noSessions = (() => ({
  whereIn: function () {
    return this;
  },
  pluck: async () => [],
})) as unknown as Knex;

it('aborts an upload begun before the bound, and leaves one whose listing has no Initiated date (it may be in use)', async () => {
  const now = Date.now();
  const { s3, aborted } = storeListing([
    { Key: 'assets/a/old', UploadId: 'old', Initiated: new Date(now - 3 * DAY_MS) },
    { Key: 'assets/b/recent', UploadId: 'recent', Initiated: new Date(now - 60_000) },
    { Key: 'assets/c/undated', UploadId: 'undated' },
  ]);

  const swept = await abortIncompleteUploads(noSessions, s3, 'bucket', { olderThan: new Date(now - DAY_MS) });

  expect(aborted).toEqual(['old']);
  expect(swept).toEqual({ aborted: 1, owned: 0, failed: 0, undated: 1, complete: true });
});
