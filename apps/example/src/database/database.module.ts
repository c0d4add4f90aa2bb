import { Global, Module } from '@nestjs/common';
import { DatabaseConnection } from './database-connection';

/**
 * Provides the app's `DatabaseConnection`. Global and imported first by
 * `AppModule`, so that its shutdown hook (stopping an embedded server) runs
 * after every module that holds connections has closed them.
 */
@Global()
@Module({
  providers: [
    {
      provide: DatabaseConnection,
      useFactory: () => DatabaseConnection.open(),
    },
  ],
  exports: [DatabaseConnection],
})
export class DatabaseModule {}
