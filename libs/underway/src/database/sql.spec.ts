import { thrownBy } from '../testing/thrown-by';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import {
  Identifier,
  ident,
  notificationChannel,
  parseSchema,
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
