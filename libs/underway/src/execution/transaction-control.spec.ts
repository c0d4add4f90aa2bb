import { findTransactionControl } from './transaction-control';

describe('findTransactionControl', () => {
  it.each([
    ['COMMIT', 'COMMIT'],
    ['commit work', 'COMMIT WORK'],
    ['COMMIT AND CHAIN', 'COMMIT'],
    ['end', 'END'],
    ['END TRANSACTION', 'END TRANSACTION'],
    ['ROLLBACK', 'ROLLBACK'],
    ['rollback transaction', 'ROLLBACK TRANSACTION'],
    ['abort', 'ABORT'],
    ['BEGIN', 'BEGIN'],
    ['begin isolation level serializable', 'BEGIN'],
    ['START TRANSACTION READ ONLY', 'START TRANSACTION'],
    ["PREPARE TRANSACTION 'x'", 'PREPARE TRANSACTION'],
    ["COMMIT PREPARED 'x'", 'COMMIT PREPARED'],
    ["rollback prepared 'x'", 'ROLLBACK PREPARED'],
    ['SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'SET TRANSACTION'],
    [
      'set session characteristics as transaction read only',
      'SET SESSION CHARACTERISTICS',
    ],
    ['SET LOCAL transaction_read_only = on', 'SET LOCAL TRANSACTION_READ_ONLY'],
    ['set transaction_isolation to serializable', 'SET TRANSACTION_ISOLATION'],
    [
      'SET default_transaction_read_only = on',
      'SET DEFAULT_TRANSACTION_READ_ONLY',
    ],
    ['select 1; commit', 'COMMIT'],
    ['select 1;commit;', 'COMMIT'],
    ["select ';'; /* a comment; */ -- another\n rollback", 'ROLLBACK'],
    ['/* leading /* nested */ comment */ begin', 'BEGIN'],
    ['-- a line comment\nCOMMIT', 'COMMIT'],
    ['  ;; end', 'END'],
    ["select 'it''s'; commit", 'COMMIT'],
    ["select E'\\'; commit'; rollback", 'ROLLBACK'],
    ['select $$;$$; commit', 'COMMIT'],
    ['select $tag$ ; commit $tag$; begin', 'BEGIN'],
    ['select "a;b"; abort', 'ABORT'],
    ['select $1; commit', 'COMMIT'],
  ])('finds %j', (text, found) => {
    expect(findTransactionControl(text)).toBe(found);
  });

  it.each([
    'select 1',
    "insert into t (a) values ('commit')",
    'select 1 as commit',
    'SAVEPOINT a',
    'RELEASE SAVEPOINT a',
    'release a',
    'ROLLBACK TO SAVEPOINT a',
    'rollback to a',
    'rollback work to savepoint a',
    'select 1; -- commit',
    'select 1 /* ; commit */',
    "select '; commit'",
    "select E'\\'; commit'",
    'select $$; commit$$',
    'select $x$; rollback $x$',
    'select "; commit"',
    'DO $$ BEGIN PERFORM 1; END $$',
    'prepare commit_it as select 1',
    'set local statement_timeout = 1000',
    'set search_path to public',
    'select "begin" from t',
    'update t set "end" = 1',
    'start_it()',
    '',
    ';',
  ])('allows %j', (text) => {
    expect(findTransactionControl(text)).toBeUndefined();
  });
});
