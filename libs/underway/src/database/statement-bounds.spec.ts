import { serverSettings, statementBounds } from './statement-bounds';

describe('statementBounds', () => {
  it('gives the server the statement timeout and the client half as long again', () => {
    expect(statementBounds('claim', 10_000)).toEqual({
      serverMs: 10_000,
      clientMs: 15_000,
    });
    expect(statementBounds('heartbeat', 2_000)).toEqual({
      serverMs: 2_000,
      clientMs: 3_000,
    });
  });

  it('keeps the client grace between 250 ms and 5 s', () => {
    expect(statementBounds('claim', 100).clientMs).toBe(350);
    expect(statementBounds('claim', 60_000).clientMs).toBe(65_000);
  });

  it('gives housekeeping three times as long', () => {
    expect(statementBounds('maintenance', 10_000)).toEqual({
      serverMs: 30_000,
      clientMs: 35_000,
    });
  });

  it('the longest accepted option still fits a timer', () => {
    expect(statementBounds('maintenance', 3_600_000).clientMs).toBeLessThan(
      2 ** 31 - 1,
    );
  });
});

describe('serverSettings', () => {
  it('sets statement_timeout and idle_in_transaction_session_timeout', () => {
    expect(serverSettings({ serverMs: 1_500, clientMs: 2_250 })).toBe(
      '-c statement_timeout=1500 -c idle_in_transaction_session_timeout=1500',
    );
  });
});
