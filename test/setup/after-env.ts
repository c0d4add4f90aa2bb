import { escapeIdentifier } from 'pg';
import {
  closeOpenApps,
  isDroppable,
  takeUsedSchemas,
} from '../support/create-test-app';
import { closeTestPool, query } from '../support/database';
import { currentTestSchema } from '../support/test-schema';

beforeEach(async () => {
  // A schema left by an earlier failed run of this test would skew it.
  await query(
    `drop schema if exists ${escapeIdentifier(currentTestSchema())} cascade`,
  );
});

afterEach(async () => {
  await closeOpenApps();
  const schemas = takeUsedSchemas();
  const failed = (globalThis as { __UNDERWAY_TEST_FAILED__?: boolean })
    .__UNDERWAY_TEST_FAILED__;
  if (failed) {
    console.log(
      `Test failed: its schema(s) ${schemas.join(', ')} are kept for inspection.`,
    );
    return;
  }
  for (const schema of schemas.filter(isDroppable)) {
    await query(`drop schema if exists ${escapeIdentifier(schema)} cascade`);
  }
});

afterAll(async () => {
  await closeTestPool();
});
