/**
 * The examples of docs/testing.md, compiled by `npm run typecheck`. Keep them
 * in sync with it; the declarations at the top stand in for the app's code.
 */
import { INestApplication, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  UNDERWAY_MODULE_OPTIONS,
  UnderwayEventMap,
  UnderwayEvents,
} from '@underway/nestjs';

// --- stand-ins for the app's own code -------------------------------------
@Module({})
class AppModule {}
class ConfigService {
  get<T>(_key: string, fallback: T): T {
    return fallback;
  }
}

// --- docs/testing.md ---------------------------------------------------------
export async function overridden() {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(UNDERWAY_MODULE_OPTIONS)
    .useValue({
      schema: `underway_test_${process.env.JEST_WORKER_ID ?? 1}`, // one per Jest worker
      shutdownTimeout: '1s', // app.close() does not wait 30 s for a stuck step
      defaults: { retry: { initialInterval: 10 } }, // retries 10 ms apart, not 1 s
    })
    .compile();
  return moduleRef;
}

export async function fromTheAppsOwn() {
  return Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(UNDERWAY_MODULE_OPTIONS)
    .useFactory({
      factory: (config: ConfigService) => ({
        schema: config.get('UNDERWAY_SCHEMA', 'underway_test'),
      }),
      inject: [ConfigService],
    })
    .compile();
}

export function nextFire(app: INestApplication) {
  const events = app.get(UnderwayEvents);
  const fired = new Promise<UnderwayEventMap['schedule:fired']>((resolve) => {
    const off = events.on('schedule:fired', (event) => {
      off();
      resolve(event);
    });
  });
  return fired;
}
