// Admin-side Postgres helpers: fresh databases and the settings recorded in meta.
import pg from 'pg';
import { dbUrl, pgTarget } from './common.mjs';

export const RECORDED_SETTINGS = [
  'server_version',
  'shared_buffers',
  'synchronous_commit',
  'fsync',
  'full_page_writes',
  'wal_level',
  'max_wal_size',
  'checkpoint_timeout',
  'work_mem',
  'max_connections',
  'jit',
  'autovacuum',
];

export async function withAdmin(fn) {
  const client = new pg.Client({
    connectionString: dbUrl(pgTarget().adminDatabase),
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const ident = (name) => '"' + name.replace(/"/g, '""') + '"';

/** Drops and re-creates each database (or only creates the missing ones when !fresh). */
export async function prepareDatabases(names, { fresh }) {
  await withAdmin(async (client) => {
    for (const name of names) {
      const { rowCount } = await client.query(
        'select 1 from pg_database where datname = $1',
        [name],
      );
      if (rowCount && !fresh) continue;
      if (rowCount)
        await client.query(`drop database ${ident(name)} with (force)`);
      await client.query(`create database ${ident(name)}`);
    }
  });
}

export async function readPgInfo() {
  return withAdmin(async (client) => {
    const { rows } = await client.query(
      'select name, setting, unit from pg_settings where name = any($1::text[])',
      [RECORDED_SETTINGS],
    );
    const settings = {};
    for (const r of rows)
      settings[r.name] = r.unit ? `${r.setting} (${r.unit})` : r.setting;
    // Human-readable forms of the memory settings, as SHOW prints them.
    for (const name of [
      'shared_buffers',
      'max_wal_size',
      'work_mem',
      'checkpoint_timeout',
    ]) {
      const shown = await client.query(`show ${name}`);
      settings[name] = shown.rows[0][name];
    }
    const version = (await client.query('select version()')).rows[0].version;
    return { version, settings };
  });
}
