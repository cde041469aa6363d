/**
 * Imported for its effect, before any worker is made: the SDK's own worker logs (state changes, and
 * the activity failures fault tests cause on purpose) would bury a test run's output;
 * STORAGE_TEST_TEMPORAL_LOG_LEVEL=INFO (or WARN) shows them.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';

Runtime.install({ logger: new DefaultLogger((process.env.STORAGE_TEST_TEMPORAL_LOG_LEVEL as 'INFO' | 'WARN' | undefined) ?? 'ERROR') });
