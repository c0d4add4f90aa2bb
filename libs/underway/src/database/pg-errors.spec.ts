import { DatabaseError } from 'pg';
import { QueryFailedError } from 'typeorm';
import {
  isQueryTimeout,
  isTransientPgError,
  isUndefinedTable,
  isUniqueViolation,
  pgErrorCode,
} from './pg-errors';

/** An error as `pg` raises it for a failed statement. */
function pgError(code: string, message = `SQLSTATE ${code}`): DatabaseError {
  const err = new DatabaseError(message, message.length, 'error');
  err.code = code;
  return err;
}

/** An error as Node raises it for a socket failure. */
function socketError(code: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(
    `connect ${code} 127.0.0.1:5432`,
  );
  err.code = code;
  return err;
}

/** A wrapper whose own properties say nothing; only `driverError` has the code. */
function wrapped(driverError: unknown): Error {
  return Object.assign(new Error('wrapped'), { driverError });
}

describe('isTransientPgError', () => {
  it.each([
    ['40001', 'serialization_failure'],
    ['40P01', 'deadlock_detected'],
    ['57P01', 'admin_shutdown'],
    ['57P03', 'cannot_connect_now'],
    ['57014', 'query_canceled, as by statement_timeout'],
    ['25P03', 'idle_in_transaction_session_timeout'],
  ])('is true for SQLSTATE %s (%s)', (code) => {
    expect(isTransientPgError(pgError(code))).toBe(true);
  });

  it.each(['ECONNRESET', 'ECONNREFUSED'])(
    'is true for the socket error %s',
    (code) => {
      expect(isTransientPgError(socketError(code))).toBe(true);
    },
  );

  it("is true for pg's client-side query_timeout, which has no code", () => {
    expect(isTransientPgError(new Error('Query read timeout'))).toBe(true);
  });

  it('is true for "Connection terminated unexpectedly", which has no code', () => {
    expect(
      isTransientPgError(new Error('Connection terminated unexpectedly')),
    ).toBe(true);
  });

  it('is true for a TypeORM QueryFailedError around a transient pg error', () => {
    const err = new QueryFailedError('select 1', [], pgError('40P01'));
    expect(isTransientPgError(err)).toBe(true);
  });

  it('reads the code from driverError when the wrapper has none of its own', () => {
    expect(isTransientPgError(wrapped(pgError('40001')))).toBe(true);
  });

  it.each([
    ['23505', 'unique_violation'],
    ['42P01', 'undefined_table'],
    ['42601', 'syntax_error'],
    ['22P02', 'invalid_text_representation'],
  ])('is false for SQLSTATE %s (%s)', (code) => {
    expect(isTransientPgError(pgError(code))).toBe(false);
  });

  it('is false for a TypeORM QueryFailedError around a unique violation', () => {
    const err = new QueryFailedError('insert …', [], pgError('23505'));
    expect(isTransientPgError(err)).toBe(false);
  });

  it('is false for a plain Error', () => {
    expect(isTransientPgError(new Error('boom'))).toBe(false);
  });

  it.each([[undefined], [null], ['ECONNRESET'], [40001], [{ code: 40001 }]])(
    'is false for the non-error value %p',
    (value) => {
      expect(isTransientPgError(value)).toBe(false);
    },
  );
});

describe('pgErrorCode', () => {
  it('returns the SQLSTATE of a pg error', () => {
    expect(pgErrorCode(pgError('23505'))).toBe('23505');
  });

  it("prefers driverError.code over the wrapper's own code", () => {
    const err = Object.assign(new Error('wrapped'), {
      code: 'WRAPPER',
      driverError: { code: '40001' },
    });
    expect(pgErrorCode(err)).toBe('40001');
  });

  it('ignores a driverError that is not an object', () => {
    const err = Object.assign(new Error('x'), {
      code: '57P01',
      driverError: 'oops',
    });
    expect(pgErrorCode(err)).toBe('57P01');
  });

  it('returns undefined for a non-string code', () => {
    expect(pgErrorCode({ code: 40001 })).toBeUndefined();
  });

  it.each([[null], [undefined], ['23505']])(
    'returns undefined for %p',
    (value) => {
      expect(pgErrorCode(value)).toBeUndefined();
    },
  );
});

describe('isUniqueViolation', () => {
  it('is true for 23505, also inside a QueryFailedError', () => {
    expect([
      isUniqueViolation(pgError('23505')),
      isUniqueViolation(new QueryFailedError('insert …', [], pgError('23505'))),
    ]).toEqual([true, true]);
  });

  it('is false for other codes', () => {
    expect(isUniqueViolation(pgError('23503'))).toBe(false);
  });
});

describe('isUndefinedTable', () => {
  it('is true for 42P01 (undefined table) and 3F000 (invalid schema name)', () => {
    expect([
      isUndefinedTable(pgError('42P01')),
      isUndefinedTable(pgError('3F000')),
    ]).toEqual([true, true]);
  });

  it('is false for other codes', () => {
    expect(isUndefinedTable(pgError('42703'))).toBe(false);
  });
});

describe('isQueryTimeout', () => {
  it("is true for pg's query_timeout error only", () => {
    expect(isQueryTimeout(new Error('Query read timeout'))).toBe(true);
    expect(isQueryTimeout(pgError('57014'))).toBe(false);
    expect(isQueryTimeout(new Error('Connection terminated'))).toBe(false);
    expect(isQueryTimeout('Query read timeout')).toBe(false);
  });
});
