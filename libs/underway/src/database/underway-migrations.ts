import {
  createUnderwayMigrations,
  UnderwayMigrationClass,
} from '../../../../migrations';
import { parseSchema } from './sql';

/**
 * Underway's schema as TypeORM migrations, for the default schema `underway`.
 * Add them to your own DataSource's `migrations` when you run migrations
 * yourself (with `migrationsRun: false`).
 *
 * @publicApi
 */
export const underwayMigrations: UnderwayMigrationClass[] =
  createUnderwayMigrations('underway');

/**
 * Underway's migrations for another schema (`UnderwayModule.forRoot({ schema })`).
 *
 * @publicApi
 */
export function underwayMigrationsFor(
  schema: string,
): UnderwayMigrationClass[] {
  return createUnderwayMigrations(parseSchema(schema));
}
