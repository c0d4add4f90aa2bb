import { describeValue } from './describe-value';
import { UnderwayError } from './underway.error';

/**
 * A schedule string that cannot be used: malformed or impossible cron, an
 * unknown time zone or one in the wrong case, an empty string, more than 200
 * characters. Thrown where the schedule is given (at boot for a decorator),
 * before anything is written.
 *
 * @publicApi
 */
export class InvalidScheduleError extends UnderwayError {
  readonly code = 'invalid_schedule';

  constructor(
    /** The schedule as given. */
    readonly schedule: unknown,
    /** What is wrong with it. */
    readonly problem: string,
    /** Where it was given, for a decorator: `ReportWorkflow @Workflow({ schedule })`. */
    where?: string,
  ) {
    super(
      `${where ? `${where}: ` : ''}Invalid schedule ${describeValue(schedule)}: ${problem}. ` +
        'Use 5 fields (minute hour day month weekday) or 6 (with seconds first), or a macro ' +
        "such as '@daily', optionally followed by an IANA time zone: '0 2 * * *[Europe/Paris]'.",
    );
  }
}
