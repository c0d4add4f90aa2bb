import { CallOutsideStepError } from './call-outside-step.error';
import { classifyError, fatalError } from './classify-error';
import { InvalidInputError } from './invalid-input.error';
import { StepAbortedError } from './step-aborted.error';
import { StepTimeoutError } from './step-timeout.error';
import { StepError } from './step.error';

/** A lone surrogate or `\u0000`: what PostgreSQL's jsonb refuses. */
const UNSTORABLE =
  // eslint-disable-next-line no-control-regex -- \u0000 is what is looked for
  /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('classifyError', () => {
  describe('StepError', () => {
    it('records StepError.fatal as not retryable, with its own code and message', () => {
      expect(
        classifyError(StepError.fatal('missing_user', 'No user 7')),
      ).toEqual({
        code: 'missing_user',
        message: 'No user 7',
        name: 'StepError',
        retryable: false,
      });
    });

    it('records StepError.retryable as retryable, with its own code', () => {
      expect(
        classifyError(StepError.retryable('rate_limited', 'Slow down')),
      ).toEqual({
        code: 'rate_limited',
        message: 'Slow down',
        name: 'StepError',
        retryable: true,
      });
    });
  });

  it('records a StepTimeoutError as a retryable "timeout"', () => {
    expect(classifyError(new StepTimeoutError(500))).toEqual({
      code: 'timeout',
      message: 'Step attempt timed out after 500ms.',
      name: 'StepTimeoutError',
      retryable: true,
    });
  });

  it('keeps the code of other Underway errors and retries them', () => {
    expect(classifyError(new StepAbortedError('lease_lost'))).toMatchObject({
      code: 'lease_lost',
      name: 'StepAbortedError',
      retryable: true,
    });
  });

  it('does not retry a CallOutsideStepError (an activity using a kept ctx would again)', () => {
    expect(
      classifyError(
        new CallOutsideStepError('call', 'track', 'r', 'w#s', {
          runId: 'r',
          name: 'misuse',
        }),
      ),
    ).toMatchObject({
      code: 'call_outside_step',
      name: 'CallOutsideStepError',
      retryable: false,
    });
  });

  it('keeps the message of other Underway errors', () => {
    expect(
      classifyError(new InvalidInputError('$.a', 'a function is not allowed'))
        .message,
    ).toBe(
      'Invalid workflow input at $.a: a function is not allowed. Inputs and outputs must be JSON-serializable.',
    );
  });

  describe('Error', () => {
    it('records a plain Error as retryable with code "error" and its message', () => {
      expect(classifyError(new Error('connect ECONNREFUSED'))).toEqual({
        code: 'error',
        message: 'connect ECONNREFUSED',
        name: 'Error',
        retryable: true,
      });
    });

    it('records the class name of a built-in Error subclass', () => {
      expect(classifyError(new TypeError('x is not a function')).name).toBe(
        'TypeError',
      );
    });

    it('records the name a custom Error subclass gives itself', () => {
      class PaymentDeclinedError extends Error {
        override name = 'PaymentDeclinedError';
      }
      expect(classifyError(new PaymentDeclinedError('declined'))).toEqual({
        code: 'error',
        message: 'declined',
        name: 'PaymentDeclinedError',
        retryable: true,
      });
    });

    it('uses the name as the message of an Error without a message', () => {
      expect(classifyError(new RangeError()).message).toBe('RangeError');
    });
  });

  describe('values that are not Errors', () => {
    it('records a thrown string as its own message', () => {
      expect(classifyError('out of coffee')).toEqual({
        code: 'error',
        message: 'out of coffee',
        name: 'string',
        retryable: true,
      });
    });

    it('renders a thrown plain object as JSON', () => {
      expect(classifyError({ status: 503, reason: 'busy' })).toEqual({
        code: 'error',
        message: 'Non-Error value thrown: {"status":503,"reason":"busy"}',
        name: 'object',
        retryable: true,
      });
    });

    it('says that undefined was thrown', () => {
      expect(classifyError(undefined)).toEqual({
        code: 'error',
        message: 'A step threw undefined',
        name: 'undefined',
        retryable: true,
      });
    });

    it('says that null was thrown', () => {
      expect(classifyError(null)).toEqual({
        code: 'error',
        message: 'A step threw null',
        name: 'null',
        retryable: true,
      });
    });

    it('renders a thrown number', () => {
      expect(classifyError(42)).toEqual({
        code: 'error',
        message: 'Non-Error value thrown: 42',
        name: 'number',
        retryable: true,
      });
    });

    it('renders a thrown BigInt without throwing', () => {
      expect(classifyError(10n).message).toBe('Non-Error value thrown: 10');
    });

    it('renders a thrown symbol without throwing', () => {
      expect(classifyError(Symbol('stop')).message).toBe(
        'Non-Error value thrown: Symbol(stop)',
      );
    });

    it('does not throw for a circular object, and retries it', () => {
      const node: Record<string, unknown> = { id: 1 };
      node.self = node;
      expect(classifyError(node)).toEqual({
        code: 'error',
        message: 'Non-Error value thrown: [object Object]',
        name: 'object',
        retryable: true,
      });
    });

    it('does not throw for an object whose toJSON throws', () => {
      const hostile = {
        toJSON(): never {
          throw new Error('no');
        },
      };
      expect(classifyError(hostile).message).toBe(
        'Non-Error value thrown: [object Object]',
      );
    });
  });

  describe('long messages', () => {
    it('keeps a message of exactly 2000 characters whole', () => {
      const message = 'x'.repeat(2_000);
      expect(classifyError(new Error(message)).message).toBe(message);
    });

    it('cuts a longer message to 2000 characters and an ellipsis', () => {
      expect(classifyError(new Error('x'.repeat(5_000))).message).toBe(
        `${'x'.repeat(2_000)}…`,
      );
    });

    it('cuts a long thrown string too', () => {
      expect(classifyError('y'.repeat(3_000)).message).toHaveLength(2_001);
    });
  });

  describe('storage in jsonb (commitOutcomes sends the record as jsonb)', () => {
    // Regression (fixed): the record is written through `jsonb_to_recordset($1::jsonb)`;
    // PostgreSQL refuses \u0000 in jsonb (22P05), so the whole batch of
    // outcomes fails, not only this run's.
    it('records a message that PostgreSQL jsonb can store when the thrown message holds \\u0000', () => {
      expect(
        UNSTORABLE.test(classifyError(new Error('bad\u0000byte')).message),
      ).toBe(false);
    });

    // Regression (fixed): `message.slice(0, 2000)` can cut a surrogate pair in half; jsonb
    // refuses the lone surrogate (22P02).
    it('never leaves a lone surrogate when it cuts a long message', () => {
      const message = `${'x'.repeat(1_999)}😀 and more`;
      expect(UNSTORABLE.test(classifyError(new Error(message)).message)).toBe(
        false,
      );
    });
  });
});

describe('fatalError', () => {
  it('makes a fatal record named UnderwayError with the given code and message', () => {
    expect(fatalError('invalid_transition', 'Wf.step returned 42')).toEqual({
      code: 'invalid_transition',
      message: 'Wf.step returned 42',
      name: 'UnderwayError',
      retryable: false,
    });
  });

  it('cuts a long message to 2000 characters and an ellipsis', () => {
    expect(fatalError('x', 'z'.repeat(2_500)).message).toHaveLength(2_001);
  });
});
