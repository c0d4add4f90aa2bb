#!/usr/bin/env node
import { runCli } from './cli';

/** `npx underway <command>`: see `underway --help`. */
void runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}).then((code) => {
  process.exitCode = code;
});
