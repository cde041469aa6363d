/** The event feed (admins), and events of other services that start work here (services). */
import { z } from 'zod';
import { listEvents } from '../../lib/events/feed';
import { startBackup } from '../../lib/backups/backupRuns';
import { uuidFromName } from '../../lib/platform/ids';
import { startIngest } from '../../lib/uploads/ingest';
import { startLifecycleRun } from '../../lib/lifecycle/sweepRuns';
import { listQueryOf, pageAnswer } from '../http/lists';
import { defineRoute } from '../http/route';
import { actorOf } from '../middleware/authentication';
import { SUBSCRIBED_TYPES, incomingEventFor } from '../schemas/events';
import { createdFilters, deprecatedName, MAX_PAGE_LIMIT, pageQuery, parse, singleLine } from '../schemas/common';
import { operationFieldsOf, setAccepted } from '../http/operations';
import { ACCEPTED_HEADERS } from '../schemas/operations';
import * as r from '../schemas/responses';

const feedQuery = z
  .object({
    ...pageQuery,
    after: deprecatedName(pageQuery.cursor, 'cursor'),
    subject: singleLine(256)
      .min(1, 'must not be empty')
      .optional()
      .describe("only this subject's events (an asset's id, for its events)")
      .meta({ examples: ['0190c6d2-7c3e-7d41-8a55-2f0e6b1c9a10'] }),
    created_after: createdFilters.created_after.describe('only events whose time is after this'),
    last: z.coerce
      .number()
      .int()
      .min(1)
      .max(MAX_PAGE_LIMIT)
      .optional()
      .describe(
        'the newest `last` events after the cursor, still oldest first, instead of the oldest `limit`: next_cursor is then the end of the feed (last=1 finds where to follow from now on)',
      )
      .meta({ examples: [20] }),
  })
  .strict();

const feed = defineRoute(
  {
    method: 'get',
    path: '/api/v2/events',
    access: 'admin',
    tag: 'events',
    summary: 'The event feed, oldest first: next_cursor is always given, the position to poll from (the cursor sent when nothing is new)',
    query: feedQuery,
    responses: { 200: pageAnswer(r.cloudEvent), 400: r.problemAnswer('the limit or the cursor is not valid') },
  },
  (deps) => async (req, res) => {
    const q = listQueryOf(feedQuery, req, res, { after: 'cursor' });
    // The old name only names the cursor: the filters stay.
    res.json(await listEvents(deps.db, q.after === undefined ? q : { ...q, cursor: q.after, cursorName: 'after' }));
  },
);

/** An event of another service: starts the work it asks for, once per event id. */
const receive = defineRoute(
  {
    method: 'post',
    path: '/api/v2/events',
    access: 'service',
    tag: 'events',
    summary: `An event of a subscribed type (${SUBSCRIBED_TYPES.join(', ')})`,
    preconditions: 'create',
    body: { schema: (limits) => incomingEventFor(limits.ingestAllowedHosts), content: 'application/cloudevents+json' },
    // An ingest reserves its new asset for its owner when it is accepted.
    responses: {
      202: {
        description: 'work started (once per event id): follow Location, its operation (workflow_id)',
        schema: r.eventAccepted,
        headers: ACCEPTED_HEADERS,
      },
      404: r.problemAnswer('the asset or policy the event names does not exist'),
      507: r.overQuotaAnswer,
    },
  },
  (deps) => {
    const incomingEvent = incomingEventFor(deps.config.ingest.allowedHosts);
    return async (req, res) => {
      const event = parse(incomingEvent, req.body, 'event');
      let workflowId: string;
      switch (event.type) {
        case 'service.asset.requested': {
          const { data } = event;
          ({ workflowId } = await startIngest(deps.uploads, deps.config, actorOf(res), {
            eventId: event.id,
            sourceUrl: data.source_url,
            name: data.name,
            contentType: data.content_type,
            checksumSha256: data.checksum_sha256,
            assetId: data.asset_id,
            // The route is for services: they may ask for an asset on a user's behalf.
            ownerId: data.owner_id ?? actorOf(res).sub,
          }));
          break;
        }
        case 'service.backup.requested': {
          const { data } = event;
          const backup = await startBackup(deps.backups, actorOf(res), {
            id: uuidFromName(`backup-requested:${event.id}`),
            label: data.label,
            assetIds: data.asset_ids,
            includeAllVersions: data.include_all_versions,
          });
          workflowId = backup.workflow_id;
          break;
        }
        case 'service.policy.updated': {
          const { data } = event;
          const run = await startLifecycleRun(deps.lifecycle, actorOf(res), { runId: uuidFromName(`policy-updated:${event.id}`), policyId: data.policy_id });
          workflowId = run.workflow_id;
          break;
        }
      }
      setAccepted(res, workflowId).json({ id: event.id, type: event.type, workflow_id: workflowId, ...operationFieldsOf(workflowId) });
    };
  },
);

export const EVENT_ROUTES = [feed, receive];
