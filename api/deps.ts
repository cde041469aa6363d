import type { S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import type { DeletionClient } from '../lib/assets/deletionClient';
import type { BackupClient } from '../lib/backups/client';
import type { LifecycleClient } from '../lib/lifecycle/client';
import type { Config } from '../lib/platform/config';
import type { Db } from '../lib/platform/db';
import type { Logger } from '../lib/platform/logger';
import type { Metrics } from '../lib/platform/metrics';
import type { TemporalHandle, WorkflowAccess } from '../lib/platform/temporal';
import type { UploadClient } from '../lib/uploads/client';

/** What the app is built from: the API process builds it once, tests build it with their own parts. */
export interface BaseDeps {
  config: Config;
  db: Db;
  s3: S3Client;
  temporal: TemporalHandle;
  logger: Logger;
  /** Shares the rate-limit budgets between replicas; without it they are per process. */
  redis?: Redis;
}

/** The clients that start and ask the service's workflows, one of each for the whole app. */
export interface WorkflowClients {
  uploads: UploadClient;
  deletions: DeletionClient;
  lifecycle: LifecycleClient;
  backups: BackupClient;
}

/** What the routers are built from; each takes the few parts it uses. */
export type AppDeps = BaseDeps & WorkflowClients & { metrics: Metrics };

export function workflowClientsOf(deps: Pick<BaseDeps, 'config' | 'db' | 'temporal'>): WorkflowClients {
  const access: WorkflowAccess = { client: deps.temporal.client, taskQueue: deps.config.temporal.taskQueue, db: deps.db };
  return {
    uploads: access,
    deletions: access,
    lifecycle: access,
    backups: { ...access, retentionDays: deps.config.backups.retentionDays },
  };
}
