// Runs the TypeScript sources directly (used by `npm start`): ts-node without type
// checking (that is `npm run typecheck`'s job) plus the `@underway/nestjs` path mapping.
process.env.TS_NODE_TRANSPILE_ONLY ??= 'true';
process.env.TS_NODE_PROJECT ??= require('path').join(
  __dirname,
  '..',
  'tsconfig.json',
);
require('ts-node/register');
require('tsconfig-paths/register');
