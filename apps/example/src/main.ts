import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { DatabaseConnection } from './database/database-connection';
import { EmbeddedPostgresError } from './database/embedded-postgres';
import { DemoService } from './demo/demo.service';

const DEFAULT_PORT = 3000;

async function bootstrap(): Promise<void> {
  const logger = new Logger('Main');
  await DatabaseConnection.open();
  const app = await NestFactory.create<NestExpressApplication>(AppModule, {
    // Let boot errors reach the catch below instead of aborting the process.
    abortOnError: false,
  });
  // Ctrl-C / SIGTERM: stop claiming, let in-flight steps finish, close pools.
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT ?? DEFAULT_PORT));

  const { port } = app.getHttpServer().address() as AddressInfo;
  const base = `http://localhost:${port}`;
  logger.log(`Listening on ${base}`);
  logger.log(`Dashboard: ${base}/underway`);
  logger.log(
    [
      'Try:',
      `  curl -s -X POST ${base}/users -H 'content-type: application/json' -d '{"email":"grace@example.com","name":"Grace Hopper"}'`,
      `  curl -s -X POST ${base}/orders -H 'content-type: application/json' -d '{"customerEmail":"grace@example.com","item":"Compiler manual","amountCents":2500}'`,
      `  curl -s -X POST ${base}/orders -H 'content-type: application/json' -d '{"customerEmail":"grace@example.com","item":"Difference Engine","amountCents":250000}'`,
      `  curl -s -X POST ${base}/orders/<order id>/approval -H 'content-type: application/json' -d '{"approved":true,"by":"max@example.com"}'`,
      `  curl -s ${base}/runs/<runId from a response>`,
      `  curl -s ${base}/health`,
    ].join('\n'),
  );

  // The demo calls the app's own HTTP endpoints: on IPv4, where the server
  // listens too, whatever localhost resolves to.
  const outcome = await app.get(DemoService).run(`http://127.0.0.1:${port}`);
  if (
    process.env.EXAMPLE_EXIT_AFTER_DEMO === '1' &&
    outcome !== 'interrupted'
  ) {
    await app.close();
    logger.log(`Exiting after the demo (${outcome})`);
    process.exit(outcome === 'succeeded' ? 0 : 1);
  }
}

bootstrap().catch((err: unknown) => {
  // An embedded server that cannot start says what happened and what to do on
  // one line: its stack would only bury that line.
  const expected = err instanceof EmbeddedPostgresError;
  new Logger('Main').error(
    `The example could not start: ${err instanceof Error ? err.message : String(err)}`,
    err instanceof Error && !expected ? err.stack : undefined,
  );
  process.exit(1);
});
