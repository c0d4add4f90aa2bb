import { CronExpressionParser } from 'cron-parser';
import { InvalidScheduleError } from '../errors/invalid-schedule.error';
import { TZ_DATABASE_NAMES } from './tz-database-names';

/**
 * A parsed schedule string: a cron expression (5 fields, or 6 with seconds
 * first) or a macro, and an optional `[Zone]` suffix, an IANA time zone (UTC
 * when omitted):
 *
 * ```
 * '0 2 * * *'                  every day at 02:00 UTC
 * '*\/10 * * * * *'            every 10 seconds
 * '@daily[America/Los_Angeles]' every day at midnight in Los Angeles
 * 'H H * * *'                  once a day, at a time drawn from the workflow and key
 * ```
 *
 * `H` in a field stands for one value of that field drawn from a hash of the
 * schedule's workflow name and key (`H/15`: every 15 from that offset,
 * `H(0-7)`: within 0–7): the same on every instance and at every fire, so
 * schedules written alike spread out instead of firing together.
 *
 * Time changes are those of the zone, and follow one rule: a schedule fires at
 * every real instant whose local time matches. So a local time that a
 * spring-forward skips fires once, right after the gap (a daily 02:30 in
 * Europe/Paris fires at 03:30 that Sunday), a local time that a fall-back
 * repeats fires once, at its first occurrence, and schedules that step
 * through the hours fire every real hour (an hourly schedule fires 23 times
 * on the spring-forward day and 25 on the fall-back day). The rule holds
 * whatever instant the next fire is computed from: a fire late into the
 * repeated hour does not fire that local time again.
 */
export interface ScheduleExpression {
  /** The schedule as given (for a stored one: its cron and `[zone]`). */
  readonly source: string;
  /** The cron part: the expression or macro, without the zone. */
  readonly cron: string;
  /** The IANA zone, `UTC` when none was given. */
  readonly timezone: string;
  /**
   * The first fire strictly after `after` (the database clock's now, for the
   * scheduler). `lastFire`, a fire of this schedule at or before `after`,
   * saves work near a time change; the answer is the same without it.
   */
  nextAfter(after: Date, lastFire?: Date): Date;
}

/** Whose schedule it is: `H` fields are drawn from these. */
/**
 * What to add to the error of an unknown schedule option `key` that tries to
 * give the zone beside the cron (`timeZone`, as `@nestjs/schedule`'s `@Cron`
 * takes it; `timezone`, `tz`, `zone`): the zone goes in the cron string.
 * Empty for any other key.
 */
export function zoneOptionHint(key: string): string {
  return /^(time_?zone|tz|zone)$/i.test(key)
    ? `; the time zone goes in the cron string, in brackets: '0 2 * * *[Europe/Paris]' (UTC without one)`
    : '';
}

export interface ScheduleOwner {
  readonly workflowName: string;
  readonly key: string;
}

const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const WITH_ZONE = /^(.*?)\s*\[([^\]]*)\]$/s;
/** Longest schedule string accepted, as given (zone included). */
const MAX_SCHEDULE_LENGTH = 200;

/**
 * Parses and checks a schedule string, at once: a bad one never reaches the
 * database. @throws InvalidScheduleError naming the string
 */
export function parseSchedule(
  schedule: unknown,
  owner: ScheduleOwner,
): ScheduleExpression {
  if (typeof schedule !== 'string') {
    throw new InvalidScheduleError(schedule, 'a schedule must be a string');
  }
  const source = schedule;
  if (source.trim() === '') {
    throw new InvalidScheduleError(source, 'it is empty');
  }
  if (source.length > MAX_SCHEDULE_LENGTH) {
    throw new InvalidScheduleError(
      source,
      `it is longer than ${MAX_SCHEDULE_LENGTH} characters`,
    );
  }
  const zoned = WITH_ZONE.exec(source.trim());
  const cron = (zoned ? zoned[1]! : source).trim();
  const timezone = zoned ? checkZone(source, zoned[2]!.trim()) : 'UTC';
  return compile(source, cron, timezone, owner);
}

/**
 * A schedule as stored: the cron and zone that {@link parseSchedule} split and
 * checked, read back as they are. Only what firing needs is checked again (a
 * cron that can fire, a zone this Node knows): not the length of the string
 * they came from, nor the zone's spelling, which an older release may have
 * accepted. A row edited by hand, or a zone that the tz database of this Node
 * no longer knows, is refused here.
 * @throws InvalidScheduleError
 */
export function storedSchedule(
  stored: { readonly cron: string; readonly timezone: string },
  owner: ScheduleOwner,
): ScheduleExpression {
  const source = `${stored.cron}[${stored.timezone}]`;
  resolveZone(source, stored.timezone);
  return compile(source, stored.cron, stored.timezone, owner);
}

function compile(
  source: string,
  cron: string,
  timezone: string,
  owner: ScheduleOwner,
): ScheduleExpression {
  const expression = expand(source, cron);
  const hashSeed = JSON.stringify([owner.workflowName, owner.key]);
  const iterate = (from: Date) =>
    CronExpressionParser.parse(expression, {
      tz: timezone,
      currentDate: from,
      hashSeed,
    });
  // Parsing is also how impossible expressions are found ('0 0 31 2 *'): a
  // schedule that can never fire is refused here, not discovered later.
  try {
    iterate(new Date(0)).next();
  } catch (err) {
    throw new InvalidScheduleError(
      source,
      (err as Error).message.replace(/\.$/, ''),
    );
  }
  return Object.freeze({
    source,
    cron,
    timezone,
    nextAfter(after: Date, lastFire?: Date): Date {
      const shift = recentShift(timezone, after.getTime());
      if (shift === undefined) {
        return iterate(after).next().toDate();
      }
      // Within two hours of a time change, an instant's local time may have
      // come before (a fall-back repeats an hour) or its fire may be owed (a
      // spring-forward moves the skipped times after the gap): only walking
      // the ticks from before the change tells. cron-parser does, when it
      // steps through the change.
      let from = shift.at - shift.size - 1;
      if (lastFire !== undefined) {
        const last = lastFire.getTime();
        if (last > from && last <= after.getTime()) {
          from = last;
        }
      }
      const ticks = iterate(new Date(from));
      for (;;) {
        const tick = ticks.next().toDate();
        if (tick > after) {
          return tick;
        }
      }
    },
  });
}

/** The cron expression of `cron`: a macro's, or itself when it has 5 or 6 fields. */
function expand(source: string, cron: string): string {
  if (cron.startsWith('@')) {
    const macro = MACROS[cron];
    if (macro === undefined) {
      throw new InvalidScheduleError(
        source,
        `"${cron}" is not a macro (known: ${Object.keys(MACROS).join(', ')})`,
      );
    }
    return macro;
  }
  if (cron === '') {
    throw new InvalidScheduleError(
      source,
      'there is no cron expression before the time zone',
    );
  }
  const fields = cron.split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    throw new InvalidScheduleError(
      source,
      `it has ${fields} field${fields === 1 ? '' : 's'}, not 5 or 6`,
    );
  }
  return cron;
}

/**
 * An IANA zone that Intl knows, spelt as the tz database spells it: canonical
 * names, links and old names (`US/Pacific`, `Asia/Calcutta`) and `Etc/GMT±N`
 * alike. An unknown zone is refused, and so is one in the wrong case
 * (`europe/paris`), with the right spelling.
 */
function checkZone(source: string, zone: string): string {
  const resolved = resolveZone(source, zone);
  const spellings = knownSpellings();
  const right =
    spellings.get(zone.toLowerCase()) ??
    (resolved.toLowerCase() === zone.toLowerCase() ? resolved : zone);
  if (right !== zone && zone !== resolved) {
    throw new InvalidScheduleError(
      source,
      `the time zone "${zone}" is spelt "${right}" in the tz database`,
    );
  }
  return zone;
}

/** Intl's name for `zone`. @throws InvalidScheduleError when Intl does not know it */
function resolveZone(source: string, zone: string): string {
  if (zone === '') {
    throw new InvalidScheduleError(source, 'the time zone in [ ] is empty');
  }
  try {
    return new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
    }).resolvedOptions().timeZone;
  } catch {
    throw new InvalidScheduleError(
      source,
      `"${zone}" is not an IANA time zone (such as Europe/Paris or America/New_York)`,
    );
  }
}

let spellingsByLowerCase: ReadonlyMap<string, string> | undefined;

/** The tz database's names and Intl's canonical ones, by their lower case. */
function knownSpellings(): ReadonlyMap<string, string> {
  spellingsByLowerCase ??= new Map(
    [...TZ_DATABASE_NAMES, ...Intl.supportedValuesOf('timeZone')].map(
      (name) => [name.toLowerCase(), name],
    ),
  );
  return spellingsByLowerCase;
}

/** The span within which a time change can alter the next fire: the largest change (2 h). */
const SHIFT_REACH_MS = 2 * 3_600_000;

/**
 * The last change of `zone`'s UTC offset in the 2 h up to `at`: its instant
 * and its size in ms; `undefined` when there was none.
 */
function recentShift(
  zone: string,
  at: number,
): { readonly at: number; readonly size: number } | undefined {
  let before = at - SHIFT_REACH_MS;
  const offsetBefore = utcOffsetMs(zone, before);
  const offsetAt = utcOffsetMs(zone, at);
  if (offsetBefore === offsetAt) {
    return undefined;
  }
  // Offsets change at most once in a few hours: bisect to the first ms with the new one.
  let after = at;
  while (after - before > 1) {
    const middle = Math.floor((before + after) / 2);
    if (utcOffsetMs(zone, middle) === offsetBefore) {
      before = middle;
    } else {
      after = middle;
    }
  }
  return { at: after, size: Math.abs(offsetAt - offsetBefore) };
}

const offsetFormats = new Map<string, Intl.DateTimeFormat>();
const OFFSET = /^GMT(?:([+-])(\d{2}):(\d{2})(?::(\d{2}))?)?$/;

/** The UTC offset of `zone` at `at`, in ms (east positive). */
function utcOffsetMs(zone: string, at: number): number {
  let format = offsetFormats.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      timeZoneName: 'longOffset',
    });
    offsetFormats.set(zone, format);
  }
  const name =
    format.formatToParts(at).find((part) => part.type === 'timeZoneName')
      ?.value ?? 'GMT';
  const match = OFFSET.exec(name);
  if (!match || match[1] === undefined) {
    return 0;
  }
  const ms =
    (Number(match[2]) * 3_600 + Number(match[3]) * 60 + Number(match[4] ?? 0)) *
    1_000;
  return match[1] === '-' ? -ms : ms;
}
