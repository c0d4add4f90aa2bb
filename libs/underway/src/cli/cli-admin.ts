import { RecordedPolicies } from '../engine/policy-source';
import { RunAdmin } from '../engine/run-admin';
import { TransitionWriter } from '../engine/transition.writer';
import { InterceptorChain } from '../events/interceptor-chain';
import { UnderwayEvents } from '../events/underway-events';
import type { CliDatabase } from './cli-database';

/**
 * The operator actions of the client, for the CLI: the same `RunAdmin` and
 * writer, with the policies the database recorded (the CLI has no workflow
 * code), no interceptor and no listener.
 */
export function cliAdmin(database: CliDatabase): RunAdmin {
  return new RunAdmin(
    database.schema,
    cliWriter(database),
    new RecordedPolicies(database.schema),
  );
}

/** The writer the client's writes go through, without interceptor or listener. */
export function cliWriter(database: CliDatabase): TransitionWriter {
  return new TransitionWriter(
    database.schema,
    new UnderwayEvents(),
    new InterceptorChain(),
  );
}
