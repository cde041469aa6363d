/**
 * Every workflow's branches against stubbed activities, in one time-skipping test server and one
 * worker (test/unit/support/workflowEnv.ts); each workflow's cases live in test/unit/workflows/.
 */
import { useWorkflowEnv } from './support/workflowEnv';
import { backupStubs, describeBackupWorkflows } from './workflows/backups';
import { deleteAssetStubs, describeDeleteAssetWorkflow } from './workflows/deleteAsset';
import { describeLifecycleSweepWorkflow, lifecycleStubs } from './workflows/lifecycle';
import { describeOutboxRelayWorkflow, relayStubs } from './workflows/relay';
import { describeUploadWorkflow, uploadStubs } from './workflows/upload';

const names = new Set([uploadStubs, deleteAssetStubs, lifecycleStubs, relayStubs, backupStubs].flatMap((stubs) => Object.keys(stubs())));
const wf = useWorkflowEnv([...names]);

describeUploadWorkflow(wf);
describeDeleteAssetWorkflow(wf);
describeLifecycleSweepWorkflow(wf);
describeOutboxRelayWorkflow(wf);
describeBackupWorkflows(wf);
