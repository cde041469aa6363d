/**
 * An asset's name, tags and metadata, edited in place: one merge patch (RFC 7396) with the fields that
 * changed, a removed metadata key sent as null, under If-Match. The API's refusal is shown and nothing
 * changes; a 412 reloads the asset (the page's onStale).
 */
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { unwrap } from '../../api';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useConsole } from '../../context';
import { isStale, type LoadedAsset } from './assetState';

interface Field {
  key: string;
  value: string;
}

export function AssetDetails(props: { loaded: LoadedAsset; onSaved(): void; onStale(): void }) {
  const { asset } = props.loaded;
  const [editing, setEditing] = useState(false);
  return (
    <section aria-labelledby="asset-details">
      <h2 id="asset-details">Details</h2>
      {editing ? (
        <DetailsForm
          loaded={props.loaded}
          onDone={(saved) => {
            setEditing(false);
            if (saved) props.onSaved();
          }}
          onStale={() => {
            setEditing(false);
            props.onStale();
          }}
        />
      ) : (
        <>
          <dl class="facts">
            <dt>Tags</dt>
            <dd>
              {asset.tags.length ? (
                asset.tags.map((t) => (
                  <span class="tag" key={t}>
                    {t}
                  </span>
                ))
              ) : (
                <span class="muted">none</span>
              )}
            </dd>
            {Object.entries(asset.metadata).map(([key, value]) => (
              <Fragment key={key}>
                <dt>{key}</dt>
                <dd>{value}</dd>
              </Fragment>
            ))}
          </dl>
          <div class="actions">
            <button type="button" onClick={() => setEditing(true)}>
              Edit details
            </button>
          </div>
        </>
      )}
    </section>
  );
}

function DetailsForm(props: { loaded: LoadedAsset; onDone(saved: boolean): void; onStale(): void }) {
  const { api } = useConsole();
  const { asset, etag } = props.loaded;
  const [name, setName] = useState(asset.name);
  const [tags, setTags] = useState(asset.tags.join(', '));
  const [fields, setFields] = useState<Field[]>(Object.entries(asset.metadata).map(([key, value]) => ({ key, value })));
  const [error, setError] = useState<unknown>(undefined);
  const [saving, setSaving] = useState(false);

  const setField = (at: number, change: Partial<Field>) => setFields(fields.map((f, i) => (i === at ? { ...f, ...change } : f)));

  const save = async (event: Event) => {
    event.preventDefault();
    const body: { name?: string; tags?: string[]; metadata?: Record<string, string | null> } = {};
    if (name !== asset.name) body.name = name;
    const newTags = tags
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '');
    if (newTags.join('\n') !== asset.tags.join('\n')) body.tags = newTags;
    const metadata: Record<string, string | null> = {};
    const kept = new Set(fields.map((f) => f.key));
    for (const key of Object.keys(asset.metadata)) if (!kept.has(key)) metadata[key] = null;
    for (const { key, value } of fields) if (asset.metadata[key] !== value) metadata[key] = value;
    if (Object.keys(metadata).length > 0) body.metadata = metadata;
    if (Object.keys(body).length === 0) return props.onDone(false);
    setSaving(true);
    setError(undefined);
    try {
      await unwrap(
        api.PATCH('/api/v2/assets/{id}', {
          params: { path: { id: asset.id }, header: { 'If-Match': etag } },
          headers: { 'Content-Type': 'application/merge-patch+json' },
          body,
        }),
      );
      props.onDone(true);
    } catch (problem) {
      if (isStale(problem)) props.onStale();
      else setError(problem);
    } finally {
      setSaving(false);
    }
  };

  return (
    <form onSubmit={save} aria-label="Edit details">
      {error !== undefined && <ProblemNotice error={error} title="Not saved" />}
      <label for="asset-name">Name</label>
      <input id="asset-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <label for="asset-tags">Tags (separated by commas)</label>
      <input id="asset-tags" value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
      <fieldset class="metadata-fields">
        <legend>Metadata</legend>
        {fields.map((field, at) => (
          <div class="metadata-row" key={at}>
            <div>
              <label for={`meta-key-${at}`}>Key</label>
              <input id={`meta-key-${at}`} value={field.key} onInput={(e) => setField(at, { key: e.currentTarget.value })} />
            </div>
            <div>
              <label for={`meta-value-${at}`}>Value</label>
              <input id={`meta-value-${at}`} value={field.value} onInput={(e) => setField(at, { value: e.currentTarget.value })} />
            </div>
            <button type="button" aria-label={`Remove metadata ${field.key || 'field'}`} onClick={() => setFields(fields.filter((_, i) => i !== at))}>
              Remove
            </button>
          </div>
        ))}
        <button type="button" onClick={() => setFields([...fields, { key: '', value: '' }])}>
          Add metadata field
        </button>
      </fieldset>
      <div class="actions">
        <button type="submit" class="primary" disabled={saving}>
          {saving ? 'Saving…' : 'Save details'}
        </button>
        <button type="button" onClick={() => props.onDone(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
