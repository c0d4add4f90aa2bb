import { Logger } from '@nestjs/common';
import type { Client } from 'pg';
import { sleep } from '../common/timers';
import { Identifier, Schema } from './sql';
import { backoffDelayMs, ReconnectBackoff } from './transient-retry';

/** How long `stop()` waits for a connection attempt before dropping its socket. */
const STOP_GRACE_MS = 2_000;

/**
 * One dedicated `LISTEN` connection. A notification is only a hint to look for
 * work (polling stays the fallback), so a dropped connection is reconnected
 * with jittered backoff and never breaks correctness.
 */
export class NotificationListener {
  private readonly logger = new Logger(NotificationListener.name);
  private readonly stopSignal = new AbortController();
  private client: Client | undefined;
  private connected = false;
  private listened = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly createClient: () => Client,
    private readonly schema: Schema,
    private readonly onNotification: (payload: string) => void,
    /** Called after every (re)connection: anything may have been missed meanwhile. */
    private readonly onConnected: () => void,
    /** Called when a connection that was listening is lost (it reconnects). */
    private readonly onLost: (error: Error) => void,
    private readonly backoff: ReconnectBackoff,
    /**
     * How often an idle listening connection is checked with `select 1`
     * (bounded by the client's `query_timeout`): a connection that stops
     * answering without closing delivers no notification and no error.
     */
    private readonly pingIntervalMs: number,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Connected and listening now (the health indicator reads it). */
  get listening(): boolean {
    return this.listened;
  }

  /** The server process of the listening connection, while it listens. */
  get backendPid(): number | undefined {
    const pid = (this.client as { processID?: number | null } | undefined)
      ?.processID;
    return this.listened && typeof pid === 'number' ? pid : undefined;
  }

  async stop(): Promise<void> {
    this.stopSignal.abort();
    const client = this.client;
    if (client && this.connected) {
      await client.end().catch(() => undefined);
    }
    // A connection attempt in flight ends itself once it settles (it sees the
    // stop signal); one that hangs (unreachable server) has its socket dropped.
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      this.loop?.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), STOP_GRACE_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!settled) {
      (
        this.client as unknown as {
          connection?: { stream?: { destroy(): void } };
        }
      )?.connection?.stream?.destroy();
      await this.loop;
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopSignal.signal.aborted) {
      const lost = await this.listenOnce().catch((err: Error) => err);
      if (this.stopSignal.signal.aborted) {
        return;
      }
      // A connection that was listening worked: start the backoff over.
      const wasListening = this.listened;
      failures = wasListening ? 1 : failures + 1;
      this.listened = false;
      if (wasListening) {
        this.onLost(
          lost instanceof Error ? lost : new Error('the connection closed'),
        );
      }
      const delay = backoffDelayMs(this.backoff, failures);
      this.logger.warn(
        `Notification connection lost (${lost instanceof Error ? lost.message : 'closed'}); reconnecting in ${delay}ms`,
      );
      await sleep(delay, this.stopSignal.signal);
    }
  }

  /** Connects and listens; settles when the connection ends. */
  private async listenOnce(): Promise<void> {
    const client = this.createClient();
    this.client = client;
    this.connected = false;
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
      this.connected = true;
      if (this.stopSignal.signal.aborted) {
        await client.end();
        return;
      }
      await client.query(`listen ${Identifier.channelOf(this.schema).quoted}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.listened = true;
    this.onConnected();
    let unanswered: Error | undefined;
    let pinger: NodeJS.Timeout | undefined;
    const ping = (): void => {
      pinger = setTimeout(() => {
        client.query('select 1').then(ping, (err: Error) => {
          // Ends the connection (its socket is destroyed: a query is in flight).
          unanswered ??= err;
          void client.end().catch(() => undefined);
        });
      }, this.pingIntervalMs);
    };
    ping();
    try {
      await ended;
    } finally {
      clearTimeout(pinger);
    }
    if (unanswered && !this.stopSignal.signal.aborted) {
      throw new Error(`no answer to a ping: ${unanswered.message}`);
    }
  }
}
