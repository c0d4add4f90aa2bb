import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as publicApi from './index';

/**
 * The values `@underway/nestjs` exports (types vanish at run time; the type
 * tests in test/types cover those). A change here is a change of the public
 * surface: make it on purpose, and document it in the README.
 */
const EXPORTED = [
  // Module
  'UnderwayModule',
  'underwayMigrations',
  'underwayMigrationsFor',
  'underwayMigrationSql',
  'underwayGrantSql',
  // Decorators
  'Workflow',
  'Step',
  // Client
  'WorkflowClient',
  'WorkflowRun',
  // Steps
  'Transition',
  // Errors
  'UnderwayError',
  'InvalidOptionsError',
  'InvalidWorkflowDefinitionError',
  'DuplicateWorkflowError',
  'WorkflowNotRegisteredError',
  'InvalidInputError',
  'PayloadTooLargeError',
  'SchemaVersionError',
  'StepError',
  'WorkflowRunFailedError',
  'ResultTimeoutError',
  'RunNotFoundError',
  'StepTimeoutError',
  'StepAbortedError',
  'DatabaseUnavailableError',
  'UnderwayClosedError',
];

describe('the public API of @underway/nestjs', () => {
  it('exports exactly the documented values', () => {
    expect(Object.keys(publicApi).sort()).toEqual([...EXPORTED].sort());
  });

  it('exports every error class the README documents, each an UnderwayError', () => {
    const readme = readFileSync(join(__dirname, '../../../README.md'), 'utf8');
    const section = readme.slice(
      readme.indexOf('## Errors'),
      readme.indexOf('\n## ', readme.indexOf('## Errors') + 1),
    );
    const documented = new Set(
      [...section.matchAll(/^\|([^|]+)\|/gm)].flatMap(([, cell]) =>
        [...cell!.matchAll(/`(\w+Error)`/g)].map(([, name]) => name!),
      ),
    );
    // The table lists the concrete errors; the text above it, their base class.
    expect(section).toContain('All errors extend `UnderwayError`');
    const exported = EXPORTED.filter(
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
