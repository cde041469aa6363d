/** The event feed (admins), and events of other services that start work here (services). */
import { z } from 'zod';
import { listEvents } from '../../lib/events/feed';
import { startBackup } from '../../lib/backups/backupRuns';
import { uuidFromName } from '../../lib/platform/ids';
import { startIngest } from '../../lib/uploads/ingest';
import { startLifecycleRun } from '../../lib/lifecycle/sweepRuns';
import { defineRoute } from '../http/route';
import { actorOf } from '../middleware/authentication';
import { SUBSCRIBED_TYPES, incomingEventFor } from '../schemas/events';
import { pageQuery, parse } from '../schemas/common';
import * as r from '../schemas/responses';

const feedQuery = z.object({ after: pageQuery.cursor, limit: pageQuery.limit }).strict();

const feed = defineRoute(
  {
    method: 'get',
    path: '/api/v2/events',
    access: 'admin',
    tag: 'events',
    summary: 'The event feed, oldest first',
    query: z.object({ after: pageQuery.cursor, limit: pageQuery.limit }),
    responses: { 200: { description: 'events', schema: r.pageOf(r.cloudEvent) } },
  },
  (deps) => async (req, res) => {
    res.json(await listEvents(deps.db, parse(feedQuery, req.query, 'query')));
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
    body: { schema: (limits) => incomingEventFor(limits.ingestAllowedHosts), content: 'application/cloudevents+json' },
    // An ingest reserves its new asset for its owner when it is accepted.
    responses: {
      202: { description: 'work started (once per event id)', schema: r.eventAccepted },
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
      res.status(202).json({ id: event.id, type: event.type, workflow_id: workflowId });
    };
  },
);

export const EVENT_ROUTES = [feed, receive];
