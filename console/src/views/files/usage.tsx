/**
 * The caller's usage against their quota (GET /api/v2/usage), shared by the usage page and the upload
 * page, which checks what the chosen files would add before it starts.
 */
import type { components } from '../../api';
import { formatBytes } from '../../components/format';

export type Usage = components['schemas']['Usage'];

/** What may still be added before a limit is reached: null where the limit is unlimited. */
export function remainingOf(usage: Usage): { bytes: number | null; assets: number | null } {
  const { quota } = usage;
  return {
    bytes: quota.bytes === null ? null : Math.max(0, quota.bytes - usage.bytes_stored - usage.reserved_bytes),
    assets: quota.assets === null ? null : Math.max(0, quota.assets - usage.assets),
  };
}

/** Bytes (stored and reserved) and assets against their limits, as numbers and meters. */
export function UsageFigures(props: { usage: Usage; idPrefix: string }) {
  const { usage, idPrefix } = props;
  const used = usage.bytes_stored + usage.reserved_bytes;
  const remaining = remainingOf(usage);
  return (
    <dl class="facts usage-figures">
      <dt id={`${idPrefix}-bytes`}>Bytes</dt>
      <dd>
        {usage.quota.bytes === null ? (
          <span>{formatBytes(used)} used, no limit</span>
        ) : (
          <>
            <meter
              aria-labelledby={`${idPrefix}-bytes`}
              class="usage-meter"
              min={0}
              max={usage.quota.bytes}
              value={Math.min(used, usage.quota.bytes)}
              high={usage.quota.bytes * 0.9}
            />
            <span>
              {formatBytes(used)} of {formatBytes(usage.quota.bytes)} used, {formatBytes(remaining.bytes)} left
            </span>
          </>
        )}
        {usage.reserved_bytes > 0 && <span class="muted"> ({formatBytes(usage.reserved_bytes)} held by uploads under way)</span>}
      </dd>
      <dt id={`${idPrefix}-assets`}>Assets</dt>
      <dd>
        {usage.quota.assets === null ? (
          <span>{usage.assets} assets, no limit</span>
        ) : (
          <>
            <meter
              aria-labelledby={`${idPrefix}-assets`}
              class="usage-meter"
              min={0}
              max={usage.quota.assets}
              value={Math.min(usage.assets, usage.quota.assets)}
              high={usage.quota.assets * 0.9}
            />
            <span>
              {usage.assets} of {usage.quota.assets} assets, {remaining.assets} left
            </span>
          </>
        )}
      </dd>
    </dl>
  );
}
