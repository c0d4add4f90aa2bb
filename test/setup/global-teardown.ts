import type { EmbeddedCluster } from './embedded-postgres';

export default async function globalTeardown(): Promise<void> {
  const cluster = (globalThis as { __UNDERWAY_PG__?: EmbeddedCluster })
    .__UNDERWAY_PG__;
  await cluster?.destroy();
}
