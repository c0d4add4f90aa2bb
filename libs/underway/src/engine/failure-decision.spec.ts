import { DEFAULT_RETRY_POLICY } from '../common/retry-policy';
import type { ErrorRecord } from '../errors/classify-error';
import { decideFailure } from './failure-decision';

const retryable: ErrorRecord = {
  code: 'error',
  message: 'boom',
  name: 'Error',
  retryable: true,
};
const fatal: ErrorRecord = { ...retryable, code: 'missing', retryable: false };
const policy = { ...DEFAULT_RETRY_POLICY, jitterFactor: 0 };

describe('decideFailure', () => {
  it('retries a retryable error while attempts remain, after the backoff', () => {
    expect(decideFailure(policy, 1, 5, retryable)).toEqual({
      kind: 'retry',
      delayMs: 1_000,
    });
    expect(decideFailure(policy, 3, 5, retryable)).toEqual({
      kind: 'retry',
      delayMs: 4_000,
    });
  });

  it('fails when the last attempt failed', () => {
    expect(decideFailure(policy, 5, 5, retryable)).toEqual({
      kind: 'fail',
      fatal: false,
    });
  });

  it('fails at once for an error that is not retryable, whatever attempts remain', () => {
    expect(decideFailure(policy, 1, 5, fatal)).toEqual({
      kind: 'fail',
      fatal: true,
    });
  });

  it('fails at once when nothing can be retried', () => {
    expect(decideFailure(policy, 1, 5, retryable, false)).toEqual({
      kind: 'fail',
      fatal: true,
    });
  });

  it('draws the jitter from the injected random source', () => {
    const jittered = { ...DEFAULT_RETRY_POLICY, jitterFactor: 0.5 };
    expect(decideFailure(jittered, 1, 5, retryable, true, () => 0)).toEqual({
      kind: 'retry',
      delayMs: 500,
    });
  });
});
