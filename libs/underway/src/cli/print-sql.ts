#!/usr/bin/env node
import { runCli } from './cli';

/**
 * `underway-sql [--schema underway] [--grant <role>]`: the name `underway sql`
 * had before the CLI; kept as an alias.
 */
void runCli(['sql', ...process.argv.slice(2)], {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}).then((code) => {
  process.exitCode = code;
});
