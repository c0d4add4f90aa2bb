// Runs the TypeScript sources against Nest 12 + TypeORM 1 (installed in
// compat/nest12) instead of the root's Nest 11: every import of these packages,
// from the library or the example, resolves in compat/nest12/node_modules.
// Nest 12 is ESM-only; Node >= 20.19 can require() it.
const Module = require('module');
const path = require('path');

const compatRoot = path.join(
  __dirname,
  '..',
  'compat',
  'nest12',
  'node_modules',
);
const redirected = /^(@nestjs\/|typeorm(\/|$)|reflect-metadata$|rxjs(\/|$))/;
const originalResolve = Module._resolveFilename;
Module._resolveFilename = function resolveFromCompat(request, parent, ...rest) {
  if (redirected.test(request)) {
    return originalResolve.call(
      this,
      request,
      { ...parent, paths: [compatRoot] },
      ...rest,
    );
  }
  return originalResolve.call(this, request, parent, ...rest);
};
require('./register.js');

const version = (name) =>
  JSON.parse(
    require('fs').readFileSync(
      path.join(compatRoot, name, 'package.json'),
      'utf8',
    ),
  ).version;
// The smoke test reads this line to prove which versions ran.
console.log(
  `Nest ${version('@nestjs/core')} and TypeORM ${version('typeorm')} from compat/nest12`,
);
