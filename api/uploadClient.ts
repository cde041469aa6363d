import type { UploadClient } from '../lib/uploads';
import type { AppDeps } from './app';

export function uploadClientOf(deps: AppDeps): UploadClient {
  return { client: deps.temporal.client, taskQueue: deps.config.temporal.taskQueue, db: deps.db };
}
