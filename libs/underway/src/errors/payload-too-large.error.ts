import { UnderwayError } from './underway.error';

/**
 * A serialized input or output is larger than `maxInputSize`. Nothing was written.
 *
 * @publicApi
 */
export class PayloadTooLargeError extends UnderwayError {
  readonly code = 'payload_too_large';

  constructor(
    readonly sizeBytes: number,
    readonly limitBytes: number,
    what = 'input',
  ) {
    super(
      `Workflow ${what} is ${sizeBytes} bytes as JSON, over the ${limitBytes}-byte limit (maxInputSize). ` +
        'Store large data elsewhere and pass a reference.',
    );
  }
}
