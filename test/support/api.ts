/**
 * The typed client (client/) for the suite's valid requests: as the suite's admin unless a token is
 * given. Requests meant to be refused, or malformed, stay with `call` (test/support/http.ts), which
 * sends anything and checks the answer against the document.
 */
import { createStorageClient, type StorageClient } from '../../client';
import { adminToken } from './auth';

export async function apiClient(baseUrl: string, token?: string): Promise<StorageClient> {
  return createStorageClient({ baseUrl, token: token ?? (await adminToken()) });
}
