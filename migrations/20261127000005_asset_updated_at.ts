import type { Knex } from 'knex';

/**
 * An asset's updated_at moves when the asset changes for its users (its revision moves: new version,
 * PUT, delete, restore), not when the system removes old versions: expire_assets counts from it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION storage_touch_asset() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.revision IS DISTINCT FROM OLD.revision THEN
        NEW.updated_at := now();
      END IF;
      RETURN NEW;
    END $$;
    DROP TRIGGER assets_touch ON assets;
    CREATE TRIGGER assets_touch BEFORE UPDATE ON assets FOR EACH ROW EXECUTE FUNCTION storage_touch_asset();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER assets_touch ON assets;
    CREATE TRIGGER assets_touch BEFORE UPDATE ON assets FOR EACH ROW EXECUTE FUNCTION storage_touch_updated_at();
    DROP FUNCTION storage_touch_asset();
  `);
}
