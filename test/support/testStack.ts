import path from 'node:path';
import { ROOT } from '../../scripts/stack';

/** Where the test run keeps its servers' data and the workflow bundle; never npm start's .data/. */
export const TEST_DATA = path.join(ROOT, '.data', 'test');
export const WORKFLOW_BUNDLE = path.join(TEST_DATA, 'workflow-bundle.js');

/** Ports of the test stack: apart from npm start's (and from their +10000 gRPC twins). */
export const TEST_TEMPORAL_PORT = 7243;
export const TEST_SEAWEED_PORTS = { s3: 8433, master: 9433, volume: 8180, filer: 8988, admin: 23746 };
export const TEST_S3_CREDENTIALS = { accessKeyId: 'storage-test', secretAccessKey: 'storage-test-secret' };
