import { createHash } from 'node:crypto';
import { thrownBy } from '../testing/thrown-by';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { claimRuns, renewLeases } from '../engine/sql/claim.sql';
import { claimScope } from '../model/claim-scope';
import { commitOutcomes, selectExpiredTasks } from '../engine/sql/commit.sql';
import { insertRun, insertRuns, NewRun } from '../engine/sql/admin.sql';
import { selectRunStatus } from '../engine/sql/read.sql';
import {
  fragment,
  Identifier,
  ident,
  MAX_NAME_BYTES,
  notificationChannel,
  parseSchema,
  prepared,
  Schema,
  sql,
} from './sql';

const schema = parseSchema('underway');

describe('sql', () => {
  it('leaves a statement without values unchanged', () => {
    expect(sql`select 1`).toEqual({ text: 'select 1', values: [] });
  });

  it('numbers parameters $1..$n in the order the values appear', () => {
    const id = 'run-1';
    const attempt = 3;
    const state = 'running';
    expect(
      sql`update t set state = ${state} where id = ${id} and attempt = ${attempt}`,
    ).toEqual({
      text: 'update t set state = $1 where id = $2 and attempt = $3',
      values: ['running', 'run-1', 3],
    });
  });

  it('splices a fragment with its values renumbered after those before it', () => {
    const a = 1;
    const b = 2;
    const c = 3;
    const piece = fragment`x = ${b} and y = ${c} and z = ${b}`;
    expect(sql`select ${a} where ${piece} and w = ${a}`).toEqual({
      text: 'select $1 where x = $2 and y = $3 and z = $4 and w = $5',
      values: [1, 2, 3, 2, 1],
    });
  });

  it('binds a value at the very start and end of the template', () => {
    expect(sql`${1}+${2}`).toEqual({ text: '$1+$2', values: [1, 2] });
  });

  it('binds the same value twice as two parameters', () => {
    const id = 'x';
    expect(sql`${id} = ${id}`).toEqual({ text: '$1 = $2', values: ['x', 'x'] });
  });

  it('binds a value that looks like SQL instead of splicing it', () => {
    const name = "x'; drop table y; --";
    const query = sql`select * from t where name = ${name}`;
    expect(query).toEqual({
      text: 'select * from t where name = $1',
      values: ["x'; drop table y; --"],
    });
  });

  it('never puts a bound value in the text', () => {
    const name = "x'; drop table y; --";
    expect(sql`select * from t where name = ${name}`.text).not.toContain(
      'drop',
    );
  });

  it('binds null, undefined, arrays, objects and Dates as single values', () => {
    const at = new Date(0);
    const query = sql`${null} ${undefined} ${[1, 2]} ${{ a: 1 }} ${at}`;
    expect(query).toEqual({
      text: '$1 $2 $3 $4 $5',
      values: [null, undefined, [1, 2], { a: 1 }, at],
    });
  });

  it('splices ident(schema) quoted, without using a parameter number', () => {
    const id = 'run-1';
    expect(
      sql`select * from ${ident(schema)}.workflow_run where id = ${id}`,
    ).toEqual({
      text: 'select * from "underway".workflow_run where id = $1',
      values: ['run-1'],
    });
  });

  it('keeps numbering values in order around several identifiers', () => {
    expect(
      sql`${ident(schema)}.a ${'first'} ${ident(schema)}.b ${'second'}`,
    ).toEqual({
      text: '"underway".a $1 "underway".b $2',
      values: ['first', 'second'],
    });
  });

  it('binds an object that merely looks like an Identifier', () => {
    const fake = { quoted: 'pg_catalog' };
    expect(sql`select * from ${fake}.pg_user`).toEqual({
      text: 'select * from $1.pg_user',
      values: [fake],
    });
  });
});

describe('ident', () => {
  it('returns an Identifier holding the double-quoted schema name', () => {
    const identifier = ident(parseSchema('tenant_a'));
    expect([identifier instanceof Identifier, identifier.quoted]).toEqual([
      true,
      '"tenant_a"',
    ]);
  });

  it('doubles embedded quotes, so even an unvalidated name cannot leave its quotes', () => {
    expect(ident('a"; drop schema x; --' as Schema).quoted).toBe(
      '"a""; drop schema x; --"',
    );
  });
});

describe('notificationChannel', () => {
  it('is the schema name prefixed with "underway:"', () => {
    expect(notificationChannel(parseSchema('tenant_a'))).toBe(
      'underway:tenant_a',
    );
  });

  it('gives two schemas two different channels', () => {
    expect(notificationChannel(parseSchema('a'))).not.toBe(
      notificationChannel(parseSchema('b')),
    );
  });

  it('is quoted for LISTEN by Identifier.channelOf', () => {
    expect(Identifier.channelOf(schema).quoted).toBe('"underway:underway"');
  });
});

const newRun: NewRun = {
  id: 'run-1',
  workflowName: 'w',
  workflowVersion: 1,
  stepName: 'a',
  input: null,
  maxAttempts: 1,
  leaseMs: 1_000,
  priority: 0,
  runPriority: 0,
  runAt: null,
  delayMs: 0,
  concurrencyKey: null,
  idempotencyKey: null,
  deadLetter: null,
  ttlMs: 0,
};

/** The name of every prepared statement the library uses, for `schema`. */
function statementNames(schema: Schema): string[] {
  return [
    claimRuns(
      schema,
      claimScope([{ name: 'w', version: 1, steps: ['a'] }]),
      1,
      'owner',
    ),
    renewLeases(schema, []),
    commitOutcomes(schema, [], 'worker'),
    selectExpiredTasks(schema, 1),
    insertRun(schema, newRun),
    insertRuns(schema, [newRun]),
    selectRunStatus(schema, 'run-1'),
  ].map((query) => query.name ?? '');
}

/** A valid schema name of exactly `length` characters, ending with `tail`. */
function schemaOf(length: number, tail = ''): Schema {
  return parseSchema('s'.repeat(length - tail.length) + tail);
}

function bytes(name: string): number {
  return Buffer.byteLength(name);
}

/** A name as PostgreSQL keeps it: cut to 63 bytes. */
function asKept(name: string): string {
  return Buffer.from(name).subarray(0, MAX_NAME_BYTES).toString();
}

function schemaHash(schema: string): string {
  return createHash('sha256').update(schema).digest('hex').slice(0, 12);
}

describe('names derived from the schema', () => {
  const longest = schemaOf(63);

  it('keeps underway:<schema>:<operation> and underway:<schema> while they fit', () => {
    expect(statementNames(parseSchema('underway'))).toEqual([
      'underway:underway:claim',
      'underway:underway:renew',
      'underway:underway:commit',
      'underway:underway:expired',
      'underway:underway:insert-run',
      'underway:underway:insert-runs',
      'underway:underway:run-status',
    ]);
    expect(notificationChannel(parseSchema('underway'))).toBe(
      'underway:underway',
    );
  });

  it('keeps the names of a 42-character schema and the channel of a 54-character one unchanged', () => {
    const schema42 = schemaOf(42);
    expect(statementNames(schema42)).toContain(
      `underway:${schema42}:insert-runs`,
    );
    expect(statementNames(schema42).every((n) => !n.includes('~'))).toBe(true);
    const schema54 = schemaOf(54);
    expect(notificationChannel(schema54)).toBe(`underway:${schema54}`);
    expect(bytes(notificationChannel(schema54))).toBe(MAX_NAME_BYTES);
  });

  it('shortens a name that would pass 63 bytes to the schema’s start, "~" and 12 hex digits of its SHA-256', () => {
    const schema = schemaOf(43);
    const hash = schemaHash(schema);
    expect(prepared(sql`select 1`, 'insert-runs', schema).name).toBe(
      `underway:${'s'.repeat(29)}~${hash}:insert-runs`,
    );
    // The shorter operations of the same schema still fit.
    expect(prepared(sql`select 1`, 'claim', schema).name).toBe(
      `underway:${schema}:claim`,
    );
    expect(notificationChannel(schemaOf(55))).toBe(
      `underway:${'s'.repeat(41)}~${schemaHash(schemaOf(55))}`,
    );
  });

  it('keeps every statement name and the channel of a 63-character schema within 63 bytes', () => {
    for (const name of [
      ...statementNames(longest),
      notificationChannel(longest),
    ]) {
      expect(bytes(name)).toBeLessThanOrEqual(MAX_NAME_BYTES);
    }
  });

  it.each([1, 8, 42, 43, 52, 55, 63])(
    'gives each operation its own name, even cut to 63 bytes, for a %i-character schema',
    (length) => {
      const names = statementNames(schemaOf(length));
      expect(new Set(names.map(asKept)).size).toBe(names.length);
    },
  );

  it('gives two 63-character schemas that share a 62-character prefix different names', () => {
    const a = schemaOf(63, 'a');
    const b = schemaOf(63, 'b');
    expect(asKept(notificationChannel(a))).not.toBe(
      asKept(notificationChannel(b)),
    );
    const namesA = statementNames(a).map(asKept);
    const namesB = statementNames(b).map(asKept);
    expect(namesA.filter((name) => namesB.includes(name))).toEqual([]);
  });

  it('is stable: the same schema always gets the same names', () => {
    expect(statementNames(schemaOf(63))).toEqual(statementNames(longest));
    expect(notificationChannel(schemaOf(63))).toBe(
      notificationChannel(longest),
    );
  });

  it('quotes a shortened channel as one identifier for LISTEN', () => {
    expect(Identifier.channelOf(longest).quoted).toBe(
      `"${notificationChannel(longest)}"`,
    );
  });

  it('refuses an operation that leaves no room for a schema, whatever the schema', () => {
    expect(() =>
      prepared(sql`select 1`, 'x'.repeat(41), parseSchema('a')),
    ).toThrow('leaves no room for a schema');
    expect(prepared(sql`select 1`, 'x'.repeat(40), longest).name).toHaveLength(
      63,
    );
  });
});

describe('parseSchema', () => {
  it.each(['underway', '_a1', 'a', 'tenant_42', 'a'.repeat(63)])(
    'accepts %p and returns it unchanged',
    (name) => {
      expect(parseSchema(name)).toBe(name);
    },
  );

  it.each([
    ['upper case', 'Underway'],
    ['a leading digit', '1abc'],
    ['64 characters', 'a'.repeat(64)],
    ['a double quote', 'a"b'],
    ['a single quote', "a'b"],
    ['a space', 'my schema'],
    ['a dash', 'a-b'],
    ['a dot', 'public.x'],
    ['a non-ASCII letter', 'café'],
    ['a trailing newline', 'underway\n'],
    ['an empty string', ''],
  ])('rejects a name with %s', (_label, name) => {
    expect(() => parseSchema(name)).toThrow(InvalidOptionsError);
  });

  it.each([
    'information_schema',
    'pg_catalog',
    'pg_toast',
    'pg_underway',
    'pg_',
  ])('rejects %p, which PostgreSQL reserves', (name) => {
    expect(() => parseSchema(name)).toThrow(
      `Invalid option schema: "${name}" is reserved by PostgreSQL (information_schema, and every name starting with pg_): choose another name, such as underway.`,
    );
  });

  it.each(['public', 'pgx', 'pg', 'information_schema_2', '_pg_x'])(
    'accepts %p, which PostgreSQL does not reserve',
    (name) => {
      expect(parseSchema(name)).toBe(name);
    },
  );

  it.each([[42], [null], [undefined], [{}], [['underway']]])(
    'rejects the non-string %p',
    (name) => {
      expect(() => parseSchema(name)).toThrow(InvalidOptionsError);
    },
  );

  it('names the path "schema" by default', () => {
    expect(
      (thrownBy(() => parseSchema('Bad')) as InvalidOptionsError).path,
    ).toBe('schema');
  });

  it('names the path it is given', () => {
    expect(
      (
        thrownBy(() =>
          parseSchema('Bad', 'tenant.schema'),
        ) as InvalidOptionsError
      ).path,
    ).toBe('tenant.schema');
  });

  it('states the rule and the rejected name in the message', () => {
    expect(() => parseSchema('My Schema')).toThrow(
      'Invalid option schema: must match ^[a-z_][a-z0-9_]{0,62}$ (lower-case letters, digits and "_", at most 63 characters), got "My Schema".',
    );
  });
});
