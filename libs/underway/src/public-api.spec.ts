import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PUBLIC_EXPORTS } from '../../../test/support/public-exports';
import * as publicApi from './index';

describe('the public API of @underway/nestjs', () => {
  it('exports exactly the documented values', () => {
    expect(Object.keys(publicApi).sort()).toEqual([...PUBLIC_EXPORTS].sort());
  });

  it('exports every error class the reference documents (docs/errors.md), each an UnderwayError', () => {
    const section = readFileSync(
      join(__dirname, '../../../docs/errors.md'),
      'utf8',
    );
    const documented = new Set(
      [...section.matchAll(/^\|([^|]+)\|/gm)].flatMap(([, cell]) =>
        [...cell!.matchAll(/`(\w+Error)`/g)].map(([, name]) => name!),
      ),
    );
    // The table lists the concrete errors; the text above it, their base class.
    expect(section).toContain('All errors extend `UnderwayError`');
    const exported = PUBLIC_EXPORTS.filter(
      (name) => name.endsWith('Error') && name !== 'UnderwayError',
    );
    expect([...documented].sort()).toEqual(exported.sort());
    for (const name of exported) {
      const value = (publicApi as Record<string, unknown>)[name];
      expect(typeof value).toBe('function');
      expect((value as { prototype: object }).prototype).toBeInstanceOf(
        publicApi.UnderwayError,
      );
    }
  });
});
