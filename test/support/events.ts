import { uuidv7 } from '../../lib/platform/ids';
import { call, type JsonAnswer } from './http';

/** A service.asset.requested CloudEvent (a fetch from `data.source_url`) with a fresh id, as the Character Service sends it. */
export function assetRequested(data: Record<string, unknown>) {
  return { specversion: '1.0', id: `evt-${uuidv7()}`, source: 'character-service', type: 'service.asset.requested', data };
}

/** POSTs a CloudEvent to the API's events route (as the test's admin, as `call` does). */
export function postEvent(baseUrl: string, event: unknown): Promise<JsonAnswer> {
  return call(`${baseUrl}/api/v2/events`, { method: 'POST', json: event, headers: { 'content-type': 'application/cloudevents+json' } });
}
