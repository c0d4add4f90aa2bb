import { UnderwayError } from '../errors/underway.error';

/**
 * `kit.events.next(name, fields)` saw no matching event within its timeout.
 *
 * @publicApi
 */
export class EventTimeoutError extends UnderwayError {
  readonly code = 'event_timeout';

  constructor(
    readonly eventName: string,
    readonly timeoutMs: number,
    fields: string,
  ) {
    super(
      `No "${eventName}" event matching ${fields} within ${timeoutMs}ms. ` +
        'In manual mode nothing runs between drains: call events.next() before the ' +
        'drain(), runToCompletion() or client call that emits it, then await it.',
    );
  }
}
