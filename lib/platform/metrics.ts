import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const CATALOG_CACHE_MS = 10_000;
// Owners get a series each only among the largest: the label set stays bounded however many owners there are.
const TOP_OWNERS = 10;

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** Called with each chunk's size as it streams through the API. */
  countUploaded(bytes: number): void;
  countDownloaded(bytes: number): void;
  /** A download answered with a 307 to the store: `asked` (?redirect=true) or `size` (over the threshold). */
  countRedirect(reason: 'asked' | 'size'): void;
  /** An upload refused for passing an owner's `quota` (bytes or assets). */
  countQuotaRefusal(quota: string): void;
  /** A read that asked the cache (lib/cache/): served from it, filled it, or went around it (Redis unusable). */
  countCacheRequest(cache: 'asset' | 'content', result: 'hit' | 'miss' | 'bypass'): void;
}

export interface CatalogFigures {
  assets: Array<{ state: string; assets: number; bytes: number }>;
  operations: Array<{ operation: string; status: string; n: number }>;
  outbox: { pending: number; failing: number };
  topOwners: Array<{ owner_id: string; bytes_stored: number }>;
  scrub: { findings: Array<{ kind: string; n: number }>; secondsSinceCompletePass: number };
}

/**
 * What the catalog gauges read, each a cheap query of the store that owns its tables: the composition
 * root (api/app.ts) builds them, so this module imports no feature and runs no SQL.
 */
export interface CatalogCollectors {
  /** Assets and the bytes of all their versions, by state (`live`, `deleted`); a state with none may be missing. */
  assetsByState(): Promise<Array<{ state: string; assets: number; bytes: number }>>;
  /** Uploads, backups, restores and lifecycle runs by outcome. */
  operations(): Promise<Array<{ operation: string; status: string; n: number }>>;
  outboxBacklog(): Promise<{ pending: number; failing: number }>;
  topOwnersByBytes(n: number): Promise<Array<{ owner_id: string; bytes_stored: number }>>;
  /** What the completed scrubs found, by kind; and how long ago the object read longest ago was last verified. */
  scrubFigures(): Promise<CatalogFigures['scrub']>;
}

/**
 * Where each figure comes from: request timings and byte counts from this process; storage use,
 * operation outcomes and the outbox from the catalog's collectors, read together and cached briefly,
 * so every replica reports the same numbers and a scrape never walks the tables.
 */
export function createMetrics(catalog: CatalogCollectors): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registerCatalogGauges(registry, cachedFigures(catalog));
  return { registry, ...processMetrics(registry) };
}

function processMetrics(registry: Registry): Omit<Metrics, 'registry'> {
  const httpDuration = new Histogram({
    name: 'storage_http_request_duration_seconds',
    help: 'HTTP request duration by route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const bytesUploaded = new Counter({ name: 'storage_bytes_uploaded_total', help: 'Bytes received in uploads by this process', registers: [registry] });
  const bytesDownloaded = new Counter({ name: 'storage_bytes_downloaded_total', help: 'Bytes sent in downloads by this process', registers: [registry] });
  const redirects = new Counter({
    name: 'storage_downloads_redirected_total',
    help: 'Downloads this process sent straight to the object store (307), by why',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const quotaRefusals = new Counter({
    name: 'storage_quota_refusals_total',
    help: "Uploads this process refused for passing an owner's quota, by the limit passed",
    labelNames: ['quota'] as const,
    registers: [registry],
  });
  const cacheRequests = new Counter({
    name: 'storage_cache_requests_total',
    help: 'Reads that asked the Redis cache, by cache (asset metadata or content bytes) and result',
    labelNames: ['cache', 'result'] as const,
    registers: [registry],
  });
  return {
    httpDuration,
    countUploaded: (bytes) => bytesUploaded.inc(bytes),
    countDownloaded: (bytes) => bytesDownloaded.inc(bytes),
    countRedirect: (reason) => redirects.inc({ reason }),
    countQuotaRefusal: (quota) => quotaRefusals.inc({ quota }),
    countCacheRequest: (cache, result) => cacheRequests.inc({ cache, result }),
  };
}

/** The catalog's figures, read at most once per CATALOG_CACHE_MS (a failed read is not kept). */
function cachedFigures(catalog: CatalogCollectors): () => Promise<CatalogFigures> {
  let cached: { at: number; figures: Promise<CatalogFigures> } | undefined;
  return () => {
    if (!cached || Date.now() - cached.at > CATALOG_CACHE_MS) {
      cached = { at: Date.now(), figures: readCatalogFigures(catalog) };
      cached.figures.catch(() => (cached = undefined));
    }
    return cached.figures;
  };
}

function registerCatalogGauges(registry: Registry, figures: () => Promise<CatalogFigures>): void {
  new Gauge({
    name: 'storage_assets',
    help: 'Assets in the catalog, live or soft-deleted',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      for (const row of (await figures()).assets) this.set({ state: row.state }, row.assets);
    },
  });
  new Gauge({
    name: 'storage_bytes_stored',
    help: 'Bytes of all versions of the assets, live or soft-deleted',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      for (const row of (await figures()).assets) this.set({ state: row.state }, row.bytes);
    },
  });
  new Gauge({
    name: 'storage_owner_bytes_stored',
    help: `Bytes stored by each of the ${TOP_OWNERS} owners storing the most`,
    labelNames: ['owner_id'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of (await figures()).topOwners) this.set({ owner_id: row.owner_id }, row.bytes_stored);
    },
  });
  registerOperationGauges(registry, figures);
  registerScrubMetrics(registry, figures);
}

function registerScrubMetrics(registry: Registry, figures: () => Promise<CatalogFigures>): void {
  new Counter({
    name: 'storage_scrub_findings_total',
    help: 'What the completed scrubs (not dry runs) found, by kind of finding',
    labelNames: ['kind'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of (await figures()).scrub.findings) this.inc({ kind: row.kind }, row.n);
    },
  });
  new Gauge({
    name: 'storage_scrub_seconds_since_complete_pass',
    help: 'Seconds since every object was last re-read and hashed by a scrub: the age of the oldest verification (an object never read counts from its creation)',
    registers: [registry],
    async collect() {
      this.set((await figures()).scrub.secondsSinceCompletePass);
    },
  });
}

function registerOperationGauges(registry: Registry, figures: () => Promise<CatalogFigures>): void {
  new Gauge({
    name: 'storage_operations',
    help: 'Uploads, backups, restores and lifecycle runs by outcome',
    labelNames: ['operation', 'status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of (await figures()).operations) this.set({ operation: row.operation, status: row.status }, row.n);
    },
  });
  new Gauge({
    name: 'storage_outbox_pending_events',
    help: 'Events not yet delivered to the Message Hub',
    registers: [registry],
    async collect() {
      this.set((await figures()).outbox.pending);
    },
  });
  new Gauge({
    name: 'storage_outbox_failing_events',
    help: 'Pending events whose last delivery attempt failed',
    registers: [registry],
    async collect() {
      this.set((await figures()).outbox.failing);
    },
  });
}

async function readCatalogFigures(catalog: CatalogCollectors): Promise<CatalogFigures> {
  const assets = await catalog.assetsByState();
  const operations = await catalog.operations();
  const outbox = await catalog.outboxBacklog();
  const byState = new Map(assets.map((r) => [r.state, r]));
  return {
    assets: ['live', 'deleted'].map((state) => ({ state, assets: 0, bytes: 0, ...(byState.get(state) ?? {}) })),
    operations,
    outbox,
    topOwners: await catalog.topOwnersByBytes(TOP_OWNERS),
    scrub: await catalog.scrubFigures(),
  };
}
