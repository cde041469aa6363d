import { bearer } from './support/auth';
import { bytesOf, download, uploadAsset } from './support/assets';
import { useTestService } from './support/context';

const ctx = useTestService();

async function scrape(): Promise<string> {
  const res = await fetch(`${ctx.baseUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
}

function value(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line ? Number(line.split(' ').pop()) : 0;
}

// The service is new, so every counter starts at 0 and the first scrape also reads the catalog fresh.
it('counts bytes up and down, times requests by route template, and reports the catalog', async () => {
  const file = bytesOf(123_456);
  const uploaded = await uploadAsset(ctx.baseUrl, file, { name: 'metered.bin' });
  expect(uploaded.status).toBe(201);
  await download(`${ctx.baseUrl}/api/v2/assets/${uploaded.body.id}/content`);
  await download(`${ctx.baseUrl}/api/v2/assets/${uploaded.body.id}/content`, { Range: 'bytes=0-99' });
  await fetch(`${ctx.baseUrl}/api/v2/assets/${uploaded.body.id}/nope`, { headers: await bearer() });

  const after = await scrape();
  expect(value(after, 'storage_bytes_uploaded_total')).toBe(file.length);
  expect(value(after, 'storage_bytes_downloaded_total')).toBe(file.length + 100);
  expect(value(after, 'storage_http_request_duration_seconds_count', '{method="GET",route="/api/v2/assets/:id/content",status="200"}')).toBe(1);
  expect(value(after, 'storage_http_request_duration_seconds_count', '{method="GET",route="/api/v2/assets/:id/content",status="206"}')).toBe(1);
  // No raw paths or ids as label values: an unknown route is "unmatched".
  expect(after).not.toContain(uploaded.body.id);
  expect(value(after, 'storage_http_request_duration_seconds_count', '{method="GET",route="unmatched",status="404"}')).toBe(1);
  expect(value(after, 'storage_assets', '{state="live"}')).toBe(1);
  expect(value(after, 'storage_bytes_stored', '{state="live"}')).toBe(file.length);
  expect(value(after, 'storage_operations', '{operation="upload",status="completed"}')).toBe(1);
  expect(value(after, 'storage_outbox_pending_events')).toBe(2);
  expect(value(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);
});
