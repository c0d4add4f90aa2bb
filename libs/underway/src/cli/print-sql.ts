#!/usr/bin/env node
import {
  underwayGrantSql,
  underwayMigrationSql,
} from '../database/underway-sql';

/**
 * `underway-sql [--schema underway] [--grant <role>]`: prints the migration
 * SQL (default) or the grants of a least-privilege runtime role, so a DBA can
 * review and apply them.
 */
function main(argv: string[]): void {
  let schema = 'underway';
  let grantTo: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--schema' && value) {
      schema = value;
      i += 1;
    } else if (arg === '--grant' && value) {
      grantTo = value;
      i += 1;
    } else {
      process.stderr.write(
        'usage: underway-sql [--schema <name>] [--grant <role>]\n' +
          '  prints the migration SQL, or with --grant the GRANTs of a runtime role\n',
      );
      process.exit(arg === '--help' || arg === '-h' ? 0 : 2);
    }
  }
  process.stdout.write(
    grantTo
      ? `${underwayGrantSql(grantTo, schema)}\n`
      : underwayMigrationSql(schema),
  );
}

main(process.argv.slice(2));
