import type { Circus } from '@jest/types';
import { TestEnvironment } from 'jest-environment-node';

/**
 * Node environment that tells the test (through a global) whether the
 * current test has failed, so its schema is kept for inspection.
 */
export default class SchemaEnvironment extends TestEnvironment {
  async handleTestEvent(event: Circus.Event): Promise<void> {
    if (event.name === 'test_start') {
      this.global.__UNDERWAY_TEST_FAILED__ = false;
    }
    if (event.name === 'test_fn_failure' || event.name === 'hook_failure') {
      this.global.__UNDERWAY_TEST_FAILED__ = true;
    }
  }
}
