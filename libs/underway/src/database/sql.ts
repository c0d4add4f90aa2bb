import { createHash } from 'node:crypto';
import { escapeIdentifier } from 'pg';
import { InvalidOptionsError } from '../errors/invalid-options.error';

/** A validated schema name; the only identifier ever spliced into SQL. */
export type Schema = string & { readonly __brand: 'Schema' };

/** A statement and its bound values, ready for `pg` (`$1`, `$2`…). */
export interface SqlQuery {
  readonly text: string;
  readonly values: readonly unknown[];
  /**
   * A prepared-statement name: the library's own connections parse and plan
   * the statement once, then only bind values (see {@link prepared}).
   */
  readonly name?: string;
}

const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Validates a schema name: lower-case letters, digits and `_`, at most 63
 * characters, not starting with a digit, and none of PostgreSQL's own:
 * `information_schema` (which a superuser could fill with Underway's tables)
 * and the `pg_` prefix (which `create schema` refuses).
 */
export function parseSchema(name: unknown, path = 'schema'): Schema {
  if (typeof name !== 'string' || !SCHEMA_PATTERN.test(name)) {
    throw new InvalidOptionsError(
      path,
      `must match ${SCHEMA_PATTERN.source} (lower-case letters, digits and "_", at most 63 characters), got ${JSON.stringify(name)}`,
    );
  }
  if (isReservedSchema(name)) {
    throw new InvalidOptionsError(
      path,
      `"${name}" is reserved by PostgreSQL (information_schema, and every name starting with pg_): choose another name, such as underway`,
    );
  }
  return name as Schema;
}

/** A schema name PostgreSQL keeps for itself. */
function isReservedSchema(name: string): boolean {
  return name === 'information_schema' || name.startsWith('pg_');
}

/** A quoted identifier, spliced verbatim by {@link sql}. */
export class Identifier {
  private constructor(readonly quoted: string) {}

  /** The only way to make an identifier: from a validated schema name. */
  static of(schema: Schema): Identifier {
    return new Identifier(escapeIdentifier(schema));
  }

  /** The schema's notification channel, quoted for `LISTEN`. */
  static channelOf(schema: Schema): Identifier {
    return new Identifier(escapeIdentifier(notificationChannel(schema)));
  }
}

/** PostgreSQL's longest name, in bytes (`NAMEDATALEN - 1`). */
export const MAX_NAME_BYTES = 63;

/** How many hex digits of the schema's SHA-256 stand in for a schema too long to fit. */
const SCHEMA_HASH_CHARS = 12;

/**
 * A name PostgreSQL keeps whole (at most {@link MAX_NAME_BYTES} bytes) made of
 * `prefix`, the schema and `suffix`. When `prefix + schema + suffix` fits, it is
 * that, unchanged. Otherwise the schema is replaced by as much of its start as
 * fits, `~` and the first 12 hex digits of the SHA-256 of the whole schema:
 * stable, different for two schemas that share a prefix, and never equal to an
 * unshortened name (a schema cannot contain `~`). Longer names are cut by
 * PostgreSQL (prepared statements then collide) or refused (`NOTIFY` channels).
 * A validated schema is ASCII: its characters are bytes.
 */
function nameWithSchema(prefix: string, schema: Schema, suffix = ''): string {
  const fixed = Buffer.byteLength(prefix) + Buffer.byteLength(suffix);
  const room = MAX_NAME_BYTES - fixed - 1 - SCHEMA_HASH_CHARS;
  if (room < 0) {
    // Checked for every schema, so a too-long operation fails in any test.
    throw new Error(`"${prefix}…${suffix}" leaves no room for a schema`);
  }
  if (fixed + schema.length <= MAX_NAME_BYTES) {
    return `${prefix}${schema}${suffix}`;
  }
  const hash = createHash('sha256').update(schema).digest('hex');
  return `${prefix}${schema.slice(0, room)}~${hash.slice(0, SCHEMA_HASH_CHARS)}${suffix}`;
}

/**
 * The `LISTEN`/`NOTIFY` channel of a schema, `underway:<schema>` (shortened
 * as {@link nameWithSchema} says from 55 characters): two schemas in one
 * database never see each other's notifications.
 */
export function notificationChannel(schema: Schema): string {
  return nameWithSchema('underway:', schema);
}

/** The quoted schema, for `sql` templates: `` sql`select … from ${ident(schema)}.task` ``. */
export function ident(schema: Schema): Identifier {
  return Identifier.of(schema);
}

/**
 * Builds a parameterized statement: every `${value}` becomes `$n` and a bound
 * value, except an {@link Identifier}, which is spliced already quoted. Values
 * cannot be concatenated into SQL by accident.
 */
export function sql(
  strings: TemplateStringsArray,
  ...params: readonly unknown[]
): SqlQuery {
  let text = strings[0] ?? '';
  const values: unknown[] = [];
  params.forEach((param, i) => {
    if (param instanceof Identifier) {
      text += param.quoted;
    } else if (param instanceof SqlFragment) {
      // Its placeholders are renumbered after the values bound so far.
      const offset = values.length;
      text += param.query.text.replace(
        /\$(\d+)/g,
        (_, n: string) => `$${Number(n) + offset}`,
      );
      values.push(...param.query.values);
    } else {
      values.push(param);
      text += `$${values.length}`;
    }
    text += strings[i + 1] ?? '';
  });
  return { text, values };
}

/**
 * A piece of a statement, built with {@link fragment} and spliced into a
 * {@link sql} template with its values (one CTE shared by two statements).
 */
export class SqlFragment {
  private constructor(readonly query: SqlQuery) {}

  static of(query: SqlQuery): SqlFragment {
    return new SqlFragment(query);
  }
}

/** Like {@link sql}, for a piece of a statement: `` sql`with ${fragment`…`} select …` ``. */
export function fragment(
  strings: TemplateStringsArray,
  ...params: readonly unknown[]
): SqlFragment {
  return SqlFragment.of(sql(strings, ...params));
}

/**
 * Names a hot statement so that the library's connections prepare it once:
 * the claim, outcome and enqueue statements are long CTEs whose parsing and
 * planning otherwise cost more than running them for a single run. The name is
 * per operation and schema, whose text is then fixed; a statement whose text
 * varies with its arguments must not be named. It is
 * `underway:<schema>:<operation>`, with the schema shortened as
 * {@link nameWithSchema} says when that passes 63 bytes.
 */
export function prepared(
  query: SqlQuery,
  operation: string,
  schema: Schema,
): SqlQuery {
  return {
    ...query,
    name: nameWithSchema('underway:', schema, `:${operation}`),
  };
}
