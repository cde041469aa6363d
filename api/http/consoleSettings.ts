/** What the console's page tells its script: api/routes/console.ts writes it, console/src/settings.ts reads it (types only: both sides compile it). */
export interface ConsoleSettings {
  environment: 'development' | 'test' | 'staging' | 'production';
  /** The Temporal UI's address (STORAGE_TEMPORAL_UI_URL): a run links to its page there; null: no link. */
  temporalUiUrl: string | null;
  temporalNamespace: string;
  /** Origins that may embed the console and hand it a token (STORAGE_CORS_ORIGINS). */
  embeddingOrigins: string[];
  /** The token's claims that hold roles and groups: the page shows them and picks its views; the API decides. */
  rolesClaim: string;
  groupsClaim: string;
}
