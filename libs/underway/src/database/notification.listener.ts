import { Logger } from '@nestjs/common';
import type { Client } from 'pg';
import { jitteredBackoffMs, sleep } from '../common/timers';
import { Identifier, Schema } from './sql';

/**
 * One dedicated `LISTEN` connection. A notification is only a hint to look for
 * work (polling stays the fallback), so a dropped connection is reconnected
 * with jittered backoff and never breaks correctness.
 */
export class NotificationListener {
  private readonly logger = new Logger(NotificationListener.name);
  private readonly stopSignal = new AbortController();
  private client: Client | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly createClient: () => Client,
    private readonly schema: Schema,
    private readonly onNotification: (payload: string) => void,
    /** Called after every (re)connection: anything may have been missed meanwhile. */
    private readonly onConnected: () => void,
    private readonly reconnectMaxMs = 5_000,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopSignal.abort();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopSignal.signal.aborted) {
      const lost = await this.listenOnce().catch((err: Error) => err);
      if (this.stopSignal.signal.aborted) {
        return;
      }
      failures = lost instanceof Error ? failures + 1 : 0;
      const delay = jitteredBackoffMs(Math.max(1, failures), 100, this.reconnectMaxMs);
      this.logger.warn(
        `Notification connection lost (${lost instanceof Error ? lost.message : 'closed'}); reconnecting in ${delay}ms`,
      );
      await sleep(delay, this.stopSignal.signal);
    }
  }

  /** Connects and listens; resolves or rejects when the connection ends. */
  private async listenOnce(): Promise<void> {
    const client = this.createClient();
    this.client = client;
    const ended = new Promise<void>((resolve, reject) => {
      client.on('error', reject);
      client.on('end', () => resolve());
    });
    ended.catch(() => undefined);
    client.on('notification', (message) => {
      this.onNotification(message.payload ?? '');
    });
    try {
      await client.connect();
      if (this.stopSignal.signal.aborted) {
        await client.end();
        return;
      }
      await client.query(`listen ${Identifier.channelOf(this.schema).quoted}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.onConnected();
    await ended;
  }
}
