/**
 * The table: a row per asset and nothing fetched per row, so a page of 1,000 renders at once. One
 * date formatter for all the rows (making one per cell is most of the cost of a large table).
 */
import type { components } from '../../api';
import { Link } from '../../components/Link';
import { formatBytes } from '../../components/format';

type Asset = components['schemas']['Asset'];

const TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function AssetTable(props: { assets: Asset[]; showOwner: boolean }) {
  return (
    <div class="table-scroll">
      <table class="asset-table row-heads">
        <caption class="visually-hidden">Assets</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col" class="number">
              Size
            </th>
            <th scope="col">Tags</th>
            {props.showOwner && <th scope="col">Owner</th>}
            <th scope="col">Updated</th>
          </tr>
        </thead>
        <tbody>
          {props.assets.map((asset) => (
            <tr key={asset.id}>
              <th scope="row">
                <Link to={`/assets/${asset.id}`}>{asset.name}</Link>
              </th>
              <td>{asset.content_type}</td>
              <td class="number">{formatBytes(asset.size_bytes)}</td>
              <td>{asset.tags.join(', ')}</td>
              {props.showOwner && <td>{asset.owner_id}</td>}
              <td>{TIME.format(new Date(asset.updated_at))}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
