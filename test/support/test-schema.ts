import { createHash } from 'node:crypto';

/**
 * The schema of the current test: `ut_` + 12 hex chars of sha1(file + test
 * name). Every test gets its own, which also exercises the `schema` option.
 */
export function currentTestSchema(suffix = ''): string {
  const state = expect.getState();
  const key = `${state.testPath ?? ''}::${state.currentTestName ?? ''}::${suffix}`;
  return `ut_${createHash('sha1').update(key).digest('hex').slice(0, 12)}`;
}
