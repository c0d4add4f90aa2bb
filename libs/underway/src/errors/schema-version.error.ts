import { UnderwayError } from './underway.error';

/**
 * The database schema does not match this version of the library: it is not
 * migrated (and `migrationsRun` is false), or it was migrated by a newer version.
 *
 * @publicApi
 */
export class SchemaVersionError extends UnderwayError {
  readonly code = 'schema_version_mismatch';

  constructor(
    readonly schema: string,
    readonly databaseVersion: number,
    readonly codeVersion: number,
  ) {
    super(
      databaseVersion > codeVersion
        ? `Schema "${schema}" is at version ${databaseVersion}, newer than this library understands (${codeVersion}). Upgrade @underway/nestjs on this instance.`
        : `Schema "${schema}" is at version ${databaseVersion}, this library needs ${codeVersion}. ` +
            'Apply underwayMigrations (or set migrationsRun: true).',
    );
  }
}
