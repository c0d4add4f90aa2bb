import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { MigrationRunner } from './database/migration.runner';
import { UnderwayDatabase } from './database/underway-database';
import { UnderwayExplorer } from './discovery/underway.explorer';
import type { ResolvedOptions } from './options/resolved-options';
import { UNDERWAY_OPTIONS } from './underway.module-definition';

/**
 * Boot, in order: register the workflows (typed errors for bad decorators),
 * then migrate the schema (or check its version when `migrationsRun` is false).
 */
@Injectable()
export class UnderwayBootstrap implements OnModuleInit {
  constructor(
    @Inject(UNDERWAY_OPTIONS) private readonly options: ResolvedOptions,
    private readonly explorer: UnderwayExplorer,
    private readonly database: UnderwayDatabase,
  ) {}

  async onModuleInit(): Promise<void> {
    this.explorer.explore();
    const migrations = new MigrationRunner(
      this.database.pool,
      this.options.schema,
    );
    if (this.options.migrationsRun) {
      await migrations.migrate();
    } else {
      await migrations.assertCurrent();
    }
  }
}
