/**
 * Every workflow's branches against stubbed activities, in one time-skipping test server and one
 * worker (test/unit/support/workflowEnv.ts); each workflow's cases live in test/unit/workflows/.
 */
import { useWorkflowEnv } from './support/workflowEnv';
import { deleteAssetStubs, describeDeleteAssetWorkflow } from './workflows/deleteAsset';
import { describeUploadWorkflow, uploadStubs } from './workflows/upload';

const wf = useWorkflowEnv([...Object.keys(uploadStubs()), ...Object.keys(deleteAssetStubs())]);

describeUploadWorkflow(wf);
describeDeleteAssetWorkflow(wf);
