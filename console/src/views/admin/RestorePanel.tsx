/**
 * Restoring a backup: a dry run first, always, to show what would be restored; the real restore only
 * after that plan has been seen and confirmed, in the same mode.
 */
import { useState } from 'preact/hooks';
import { unwrap } from '../../api';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useConsole } from '../../context';
import { idsOf } from './ids';
import { RestoreRun } from './RestoreRun';

type Mode = 'missing' | 'overwrite';

export function RestorePanel(props: { backupId: string; onChange(): void }) {
  const { api } = useConsole();
  const [mode, setMode] = useState<Mode>('missing');
  const [assetIds, setAssetIds] = useState('');
  const [plan, setPlan] = useState<{ id: string; mode: Mode; assetIds: string } | null>(null);
  const [planDone, setPlanDone] = useState(false);
  const [confirmed, setConfirmed] = useState(false);
  const [real, setReal] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const start = async (dryRun: boolean, chosen: { mode: Mode; assetIds: string }) => {
    setBusy(true);
    setError(null);
    try {
      const restore = await unwrap(
        api.POST('/api/v2/backups/{id}/restore', {
          params: { path: { id: props.backupId } },
          body: { mode: chosen.mode, asset_ids: idsOf(chosen.assetIds), dry_run: dryRun },
        }),
      );
      if (dryRun) {
        setPlan({ id: restore.id, ...chosen });
        setPlanDone(false);
        setConfirmed(false);
        setReal(null);
      } else setReal(restore.id);
      props.onChange();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="restore-heading">
      <h2 id="restore-heading">Restore</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void start(true, { mode, assetIds });
        }}
      >
        <label for="restore-mode">Mode</label>
        <select id="restore-mode" value={mode} onChange={(e) => setMode(e.currentTarget.value as Mode)}>
          <option value="missing">missing: bring back only what the catalog lacks</option>
          <option value="overwrite">overwrite: put every asset back as the backup has it</option>
        </select>
        <label for="restore-assets">Asset ids (optional: every asset of the backup)</label>
        <textarea id="restore-assets" rows={2} value={assetIds} onInput={(e) => setAssetIds(e.currentTarget.value)} />
        <div class="actions">
          <button type="submit" disabled={busy}>
            Dry run
          </button>
        </div>
      </form>
      {error !== null && <ProblemNotice error={error} title="The restore was not started" />}
      {plan && (
        <RestoreRun
          id={plan.id}
          heading="Dry run: what the restore would do"
          onEnd={(r) => {
            setPlanDone(r.status === 'completed');
            props.onChange();
          }}
          key={plan.id}
        />
      )}
      {plan && planDone && !real && (
        <div class="notice notice-warning">
          <p>
            The real restore runs in <strong>{plan.mode}</strong> mode
            {plan.mode === 'overwrite' ? ' and puts back every asset of the backup over what is there now' : ''}.
          </p>
          <label>
            <input type="checkbox" checked={confirmed} onChange={(e) => setConfirmed(e.currentTarget.checked)} /> I have read the dry run and want to restore
          </label>
          <div class="actions">
            <button type="button" class="danger primary" disabled={!confirmed || busy} onClick={() => void start(false, plan)}>
              Restore now
            </button>
          </div>
        </div>
      )}
      {real && <RestoreRun id={real} heading="The restore" onEnd={props.onChange} key={real} />}
    </section>
  );
}
