// Unit tests sit next to the code; e2e suites run against a real PostgreSQL
// (DATABASE_URL, or an embedded one started by the global setup).
const transform = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }],
};
const moduleNameMapper = {
  '^@underway/nestjs$': '<rootDir>/libs/underway/src',
  '^@underway/nestjs/(.*)$': '<rootDir>/libs/underway/src/$1',
};

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 30_000,
  projects: [
    {
      displayName: 'unit',
      rootDir: __dirname,
      testMatch: [
        '<rootDir>/libs/**/*.spec.ts',
        '<rootDir>/migrations/**/*.spec.ts',
      ],
      testEnvironment: 'node',
      transform,
      moduleNameMapper,
    },
    {
      displayName: 'e2e',
      rootDir: __dirname,
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'],
      testEnvironment: '<rootDir>/test/setup/schema-environment.ts',
      globalSetup: '<rootDir>/test/setup/global-setup.ts',
      globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/setup/after-env.ts'],
      transform,
      moduleNameMapper,
    },
  ],
};
