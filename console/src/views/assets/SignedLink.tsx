/**
 * A signed link of the asset's current content: anyone who has it can open it without a token until
 * it expires (at most the 7 days the API allows), or until its signer loses access to the asset.
 */
import { useState } from 'preact/hooks';
import { CopyButton } from '../../components/CopyButton';
import { formatTime } from '../../components/format';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useConsole } from '../../context';
import type { Asset } from './assetState';
import { MAX_EXPIRY_SECONDS, signUrl } from './signing';

const EXPIRIES = [
  { seconds: 3600, label: '1 hour' },
  { seconds: 86_400, label: '1 day' },
  { seconds: MAX_EXPIRY_SECONDS, label: '7 days' },
];

export function SignedLink(props: { asset: Asset }) {
  const { api } = useConsole();
  const [expiresIn, setExpiresIn] = useState(EXPIRIES[0].seconds);
  const [link, setLink] = useState<{ url: string; expiresAt: string } | null>(null);
  const [error, setError] = useState<unknown>(undefined);

  const create = async () => {
    setError(undefined);
    try {
      const signed = await signUrl(api, props.asset.id, { expiresIn });
      setLink({ url: location.origin + signed.url, expiresAt: signed.expires_at });
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section aria-labelledby="asset-link">
      <h2 id="asset-link">Signed link</h2>
      <p class="muted">Anyone with the link can open the current version without signing in, until it expires.</p>
      <div class="filters">
        <div>
          <label for="link-expiry">Expires after</label>
          <select id="link-expiry" value={String(expiresIn)} onChange={(e) => setExpiresIn(Number(e.currentTarget.value))}>
            {EXPIRIES.map((e) => (
              <option key={e.seconds} value={String(e.seconds)}>
                {e.label}
              </option>
            ))}
          </select>
        </div>
        <div class="actions">
          <button type="button" onClick={() => void create()}>
            Create link
          </button>
        </div>
      </div>
      {error !== undefined && <ProblemNotice error={error} title="No link was made" />}
      {link && (
        <div>
          <label for="link-url">Link (expires {formatTime(link.expiresAt)})</label>
          <div class="actions">
            <input id="link-url" class="link-url" readOnly value={link.url} onFocus={(e) => e.currentTarget.select()} />
            <CopyButton text={link.url} label="Copy link" />
          </div>
        </div>
      )}
    </section>
  );
}
