/**
 * The store of an asset (its row, its versions, its metadata and its grants): the only code that runs SQL against assets, asset_versions, asset_metadata and asset_grants.
 */
export {};
