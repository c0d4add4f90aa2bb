import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UnderwayDashboardModule, UnderwayModule } from '@underway/nestjs';
import { DatabaseConnection } from './database/database-connection';
import { DatabaseModule } from './database/database.module';
import { DemoModule } from './demo/demo.module';
import { HealthModule } from './health/health.module';
import { OrdersModule } from './orders/orders.module';
import { ReportsModule } from './reports/reports.module';
import { RunsModule } from './runs/runs.module';
import { UsersModule } from './users/users.module';

@Module({
  imports: [
    // First: its shutdown hook must run after those that close connections.
    DatabaseModule,
    TypeOrmModule.forRootAsync({
      inject: [DatabaseConnection],
      useFactory: (database: DatabaseConnection) => ({
        type: 'postgres',
        url: database.url,
        autoLoadEntities: true,
        // Fine for the example's own two tables; use migrations in a real app.
        // Underway's tables live in the "underway" schema, under its own migrations.
        synchronize: true,
      }),
    }),
    // Reuses the DataSource above; applies its migrations at boot.
    UnderwayModule.forRoot({
      runtime: { concurrency: 5, pollInterval: '500ms' },
      // Let Ctrl-C finish a 2 s receipt render rather than abort it.
      shutdownTimeout: '10s',
      defaults: {
        retry: { maxAttempts: 5, initialInterval: '1s' },
        // The lease of a running step. After a crash (or Ctrl-C with the
        // embedded database, which stops it too) a restarted app takes the step
        // over once the lease lapses: 5 s here, so the demo resumes quickly.
        heartbeat: '5s',
      },
    }),
    // The dashboard at /underway (see docs/dashboard.md: in production, give it a
    // guard, and `readOnly: true` where nobody should act from it). The demo's
    // inputs are no secret, so it shows them.
    UnderwayDashboardModule.forRoot({ path: '/underway', showPayloads: true }),
    UsersModule,
    OrdersModule,
    ReportsModule,
    RunsModule,
    DemoModule,
    HealthModule,
  ],
})
export class AppModule {}
