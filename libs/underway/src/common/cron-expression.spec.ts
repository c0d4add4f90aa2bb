import { InvalidScheduleError } from '../errors/invalid-schedule.error';
import { thrownBy } from '../testing/thrown-by';
import {
  parseSchedule,
  ScheduleOwner,
  storedSchedule,
} from './cron-expression';

const OWNER: ScheduleOwner = { workflowName: 'report', key: 'default' };

/** The next `count` fires after `from`, as ISO strings. */
function fires(schedule: string, from: string, count: number): string[] {
  const expression = parseSchedule(schedule, OWNER);
  const out: string[] = [];
  let after = new Date(from);
  for (let i = 0; i < count; i += 1) {
    after = expression.nextAfter(after);
    out.push(after.toISOString());
  }
  return out;
}

/** Every fire in [from, to), as ISO strings. */
function firesBetween(schedule: string, from: string, to: string): string[] {
  const expression = parseSchedule(schedule, OWNER);
  const out: string[] = [];
  const end = new Date(to).getTime();
  let after = new Date(new Date(from).getTime() - 1);
  for (;;) {
    after = expression.nextAfter(after);
    if (after.getTime() >= end) {
      return out;
    }
    out.push(after.toISOString());
  }
}

function rejection(schedule: unknown): InvalidScheduleError {
  const err = thrownBy(() => parseSchedule(schedule, OWNER));
  expect(err).toBeInstanceOf(InvalidScheduleError);
  return err as InvalidScheduleError;
}

describe('parseSchedule', () => {
  it('reads 5-field cron in UTC when no zone is given', () => {
    const expression = parseSchedule('0 2 * * *', OWNER);
    expect(expression).toMatchObject({
      source: '0 2 * * *',
      cron: '0 2 * * *',
      timezone: 'UTC',
    });
    expect(fires('0 2 * * *', '2026-12-01T00:00:00Z', 2)).toEqual([
      '2026-12-01T02:00:00.000Z',
      '2026-12-02T02:00:00.000Z',
    ]);
  });

  it('reads 6-field cron with seconds first', () => {
    expect(fires('*/10 * * * * *', '2026-12-01T00:00:03Z', 3)).toEqual([
      '2026-12-01T00:00:10.000Z',
      '2026-12-01T00:00:20.000Z',
      '2026-12-01T00:00:30.000Z',
    ]);
  });

  it('fires strictly after the given instant', () => {
    expect(fires('0 2 * * *', '2026-12-01T02:00:00Z', 1)).toEqual([
      '2026-12-02T02:00:00.000Z',
    ]);
  });

  it.each([
    ['@yearly', '2027-01-01T00:00:00.000Z'],
    ['@annually', '2027-01-01T00:00:00.000Z'],
    ['@monthly', '2027-01-01T00:00:00.000Z'],
    ['@weekly', '2026-12-06T00:00:00.000Z'],
    ['@daily', '2026-12-02T00:00:00.000Z'],
    ['@midnight', '2026-12-02T00:00:00.000Z'],
    ['@hourly', '2026-12-01T11:00:00.000Z'],
  ])('reads the macro %s', (macro, next) => {
    expect(fires(macro, '2026-12-01T10:30:00Z', 1)).toEqual([next]);
  });

  it('reads a [Zone] suffix: the local time of that zone', () => {
    expect(parseSchedule('@daily[America/Los_Angeles]', OWNER)).toMatchObject({
      cron: '@daily',
      timezone: 'America/Los_Angeles',
    });
    // Midnight in Los Angeles (PST, UTC−8) and in Paris (CET, UTC+1).
    expect(
      fires('@daily[America/Los_Angeles]', '2026-12-01T00:00:00Z', 1),
    ).toEqual(['2026-12-01T08:00:00.000Z']);
    expect(
      fires('0 2 * * * [Europe/Paris]', '2026-12-01T00:00:00Z', 1),
    ).toEqual(['2026-12-01T01:00:00.000Z']);
  });

  it('accepts IANA links and UTC spellings of the tz database', () => {
    expect(parseSchedule('@daily[UTC]', OWNER).timezone).toBe('UTC');
    expect(parseSchedule('@daily[Etc/UTC]', OWNER).timezone).toBe('Etc/UTC');
    expect(parseSchedule('@daily[US/Pacific]', OWNER).timezone).toBe(
      'US/Pacific',
    );
  });

  it.each([
    // Etc/GMT±N: the sign is POSIX's, so Etc/GMT+5 is UTC−5 (02:00 there is 07:00Z).
    ['Etc/GMT+5', '2026-12-01T07:00:00.000Z'],
    ['Etc/GMT-14', '2026-11-30T12:00:00.000Z'],
    ['Etc/GMT0', '2026-12-01T02:00:00.000Z'],
    ['GMT', '2026-12-01T02:00:00.000Z'],
    // A zone's current name and its old one: whichever this Node's ICU calls canonical.
    ['Europe/Kyiv', '2026-12-01T00:00:00.000Z'],
    ['Europe/Kiev', '2026-12-01T00:00:00.000Z'],
    ['Asia/Kolkata', '2026-11-30T20:30:00.000Z'],
    ['Asia/Calcutta', '2026-11-30T20:30:00.000Z'],
    ['America/Argentina/Buenos_Aires', '2026-12-01T05:00:00.000Z'],
  ])('accepts every tz database spelling Intl knows: %s', (zone, next) => {
    const expression = parseSchedule(`0 2 * * *[${zone}]`, OWNER);
    expect(expression.timezone).toBe(zone);
    expect(expression.nextAfter(new Date('2026-11-30T07:00:00Z'))).toEqual(
      new Date(next),
    );
  });

  describe("'H': one value per field, drawn from the workflow name and the schedule key", () => {
    const daily = (owner: ScheduleOwner): string[] => {
      const expression = parseSchedule('H H * * *', owner);
      const out: string[] = [];
      let after = new Date('2026-12-01T00:00:00Z');
      for (let i = 0; i < 5; i += 1) {
        after = expression.nextAfter(after);
        out.push(after.toISOString().slice(11));
      }
      return out;
    };

    it('fires once a day, at the same time every day, however often it is parsed', () => {
      const times = daily(OWNER);
      expect(new Set(times).size).toBe(1);
      for (let i = 0; i < 5; i += 1) {
        expect(daily({ ...OWNER })).toEqual(times);
      }
    });

    it('spreads schedules written alike: another workflow or key draws another time', () => {
      const times = new Set(
        ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map(
          (key) => daily({ workflowName: 'report', key })[0],
        ),
      );
      expect(times.size).toBeGreaterThan(4);
    });

    it('H/2 in the seconds: every 2 s from one offset, every time', () => {
      const gaps = new Set<number>();
      const offsets = new Set<number>();
      for (let parse = 0; parse < 10; parse += 1) {
        const expression = parseSchedule('H/2 * * * * *', OWNER);
        let after = new Date('2026-12-01T00:00:00Z');
        for (let i = 0; i < 5; i += 1) {
          const next = expression.nextAfter(after);
          gaps.add(next.getTime() - after.getTime());
          offsets.add(next.getTime() % 2_000);
          after = next;
        }
      }
      expect(offsets.size).toBe(1);
      expect(gaps.has(2_000)).toBe(true);
      expect([...gaps].every((gap) => gap <= 2_000)).toBe(true);
    });
  });

  describe('time changes in the zone (Europe/Paris, 2026: forward on March 29, back on October 25)', () => {
    it('a daily 02:30 fires once on the spring-forward Sunday, at 03:30 (right after the gap)', () => {
      expect(
        firesBetween(
          '30 2 * * *[Europe/Paris]',
          '2026-03-28T00:00:00Z',
          '2026-03-31T00:00:00Z',
        ),
      ).toEqual([
        '2026-03-28T01:30:00.000Z', // 02:30 CET
        '2026-03-29T01:30:00.000Z', // 03:30 CEST: 02:30 does not exist
        '2026-03-30T00:30:00.000Z', // 02:30 CEST
      ]);
    });

    it('a daily 02:30 fires once on the fall-back Sunday, at the first 02:30', () => {
      expect(
        firesBetween(
          '30 2 * * *[Europe/Paris]',
          '2026-10-24T00:00:00Z',
          '2026-10-27T00:00:00Z',
        ),
      ).toEqual([
        '2026-10-24T00:30:00.000Z', // 02:30 CEST
        '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST); not again at 02:30 CET
        '2026-10-26T01:30:00.000Z', // 02:30 CET
      ]);
    });

    it('a daily 02:30 first looked at inside the repeated hour (a late fire, a schedule made then) does not fire again that day', () => {
      const daily = parseSchedule('30 2 * * *[Europe/Paris]', OWNER);
      // 01:00Z–02:00Z is 02:00–03:00 CET, the second pass of the local hour 02:00–03:00:
      // its 02:30 (01:30Z) already fired at 00:30Z.
      for (const after of [
        '2026-10-25T01:00:00Z',
        '2026-10-25T01:10:00Z',
        '2026-10-25T01:29:59.999Z',
        '2026-10-25T01:30:00Z',
        '2026-10-25T01:59:59Z',
        '2026-10-25T02:10:00Z',
      ]) {
        expect([after, daily.nextAfter(new Date(after)).toISOString()]).toEqual(
          [after, '2026-10-26T01:30:00.000Z'],
        );
      }
      // Before the first 02:30, it is still to come.
      expect(
        daily.nextAfter(new Date('2026-10-25T00:10:00Z')).toISOString(),
      ).toBe('2026-10-25T00:30:00.000Z');
    });

    it('a local time repeated by a fall-back fires in both passes when the schedule steps through every hour, in the first only otherwise', () => {
      // Looked at from inside the second pass (01:10Z = 02:10 CET): the next real hour and half hour.
      expect(fires('@hourly[Europe/Paris]', '2026-10-25T01:10:00Z', 2)).toEqual(
        ['2026-10-25T02:00:00.000Z', '2026-10-25T03:00:00.000Z'],
      );
      expect(
        fires('30 * * * *[Europe/Paris]', '2026-10-25T01:10:00Z', 2),
      ).toEqual(['2026-10-25T01:30:00.000Z', '2026-10-25T02:30:00.000Z']);
      expect(
        fires('*/20 * * * * *[Europe/Paris]', '2026-10-25T01:10:05Z', 2),
      ).toEqual(['2026-10-25T01:10:20.000Z', '2026-10-25T01:10:40.000Z']);
      // Minutes of the repeated hour only: the first pass, not the second.
      expect(
        fires('*/20 2 * * *[Europe/Paris]', '2026-10-25T00:50:00Z', 1),
      ).toEqual(['2026-10-26T01:00:00.000Z']);
      expect(
        fires('*/20 2 * * *[Europe/Paris]', '2026-10-25T01:10:00Z', 1),
      ).toEqual(['2026-10-26T01:00:00.000Z']);
    });

    it('a daily 02:30 first looked at after the spring-forward gap, before 03:30, still fires at 03:30', () => {
      // 01:00Z is 03:00 CEST, right after the gap: the 02:30 that did not exist fires at 03:30 (01:30Z).
      for (const after of [
        '2026-03-29T01:00:00Z',
        '2026-03-29T01:10:00Z',
        '2026-03-29T01:29:59Z',
      ]) {
        expect([after, fires('30 2 * * *[Europe/Paris]', after, 1)]).toEqual([
          after,
          ['2026-03-29T01:30:00.000Z'],
        ]);
      }
      expect(
        fires('30 2 * * *[Europe/Paris]', '2026-03-29T01:30:00Z', 1),
      ).toEqual(['2026-03-30T00:30:00.000Z']);
      expect(fires('@hourly[Europe/Paris]', '2026-03-29T01:10:00Z', 1)).toEqual(
        ['2026-03-29T02:00:00.000Z'],
      );
    });

    it('gives the same next fire with or without the last fire, from any instant around a time change', () => {
      for (const schedule of [
        '30 2 * * *[Europe/Paris]',
        '@hourly[Europe/Paris]',
        '*/7 * * * *[Europe/Paris]',
        '15 */2 * * *[Europe/Paris]',
        '0 0 * * *[Antarctica/Troll]',
      ]) {
        const expression = parseSchedule(schedule, OWNER);
        for (const day of ['2026-03-28T22:00:00Z', '2026-10-24T22:00:00Z']) {
          let lastFire = expression.nextAfter(new Date(day));
          for (let step = 0; step < 6 * 60; step += 7) {
            const after = new Date(Date.parse(day) + step * 60_000);
            while (expression.nextAfter(lastFire) <= after) {
              lastFire = expression.nextAfter(lastFire);
            }
            if (lastFire > after) {
              continue;
            }
            expect([schedule, after, expression.nextAfter(after)]).toEqual([
              schedule,
              after,
              expression.nextAfter(after, lastFire),
            ]);
          }
        }
      }
    });

    it('an hourly schedule fires every real hour: 23 times on the spring-forward day, 25 on the fall-back day', () => {
      // The local days: March 29 00:00 CET = 23:00Z the day before; October 25 00:00 CEST = 22:00Z.
      const spring = firesBetween(
        '@hourly[Europe/Paris]',
        '2026-03-28T23:00:00Z',
        '2026-03-29T22:00:00Z',
      );
      const fall = firesBetween(
        '@hourly[Europe/Paris]',
        '2026-10-24T22:00:00Z',
        '2026-10-25T23:00:00Z',
      );
      expect(spring).toHaveLength(23);
      expect(fall).toHaveLength(25);
      for (const day of [spring, fall]) {
        const gaps = day
          .slice(1)
          .map((at, i) => Date.parse(at) - Date.parse(day[i]!));
        expect(new Set(gaps)).toEqual(new Set([3_600_000]));
      }
    });
  });

  describe('bad schedules: InvalidScheduleError naming the string', () => {
    it.each<[string, unknown, string]>([
      ['an empty string', '', 'it is empty'],
      ['blanks', '   ', 'it is empty'],
      ['not a string', 5, 'a schedule must be a string'],
      ['4 fields', '* * * *', 'it has 4 fields, not 5 or 6'],
      ['7 fields', '0 0 0 * * * *', 'it has 7 fields, not 5 or 6'],
      ['a value out of range', '61 * * * *', 'Constraint error'],
      ['garbage', '0 2 * * * garbage', 'cannot resolve alias'],
      ['words', 'every day', 'it has 2 fields'],
      ['an unknown macro', '@fortnightly', '"@fortnightly" is not a macro'],
      [
        'an impossible date',
        '0 0 31 2 *',
        'Invalid explicit day of month definition',
      ],
      [
        'an unknown zone',
        '0 2 * * *[Mars/Phobos]',
        '"Mars/Phobos" is not an IANA time zone',
      ],
      [
        'a zone in the wrong case',
        '@daily[europe/paris]',
        'is spelt "Europe/Paris"',
      ],
      ['utc in lower case', '@daily[utc]', 'is spelt "UTC"'],
      ['Etc/GMT+5 in lower case', '@daily[etc/gmt+5]', 'is spelt "Etc/GMT+5"'],
      [
        'a link in the wrong case',
        '@daily[us/pacific]',
        'is spelt "US/Pacific"',
      ],
      [
        'a current name in the wrong case',
        '@daily[europe/kyiv]',
        'is spelt "Europe/Kyiv"',
      ],
      ['Etc/UTC in the wrong case', '@daily[etc/utc]', 'is spelt "Etc/UTC"'],
      [
        "a zone past Etc/GMT±N's range",
        '@daily[Etc/GMT+13]',
        '"Etc/GMT+13" is not an IANA time zone',
      ],
      ['an empty zone', '@daily[]', 'the time zone in [ ] is empty'],
      [
        'a zone alone',
        '[Europe/Paris]',
        'there is no cron expression before the time zone',
      ],
      [
        'a very long string',
        `${'0 '.repeat(150)}`,
        'longer than 200 characters',
      ],
    ])('refuses %s', (_label, schedule, problem) => {
      const err = rejection(schedule);
      expect(err.code).toBe('invalid_schedule');
      expect(err.schedule).toBe(schedule);
      expect(err.message).toContain(problem);
      expect(err.message.startsWith('Invalid schedule ')).toBe(true);
    });
  });
});

describe('storedSchedule: a schedule read back from its row', () => {
  const readBack = (schedule: string) => {
    const given = parseSchedule(schedule, OWNER);
    return [
      given,
      storedSchedule({ cron: given.cron, timezone: given.timezone }, OWNER),
    ] as const;
  };

  it('fires as the string it came from, H fields included', () => {
    for (const schedule of [
      '0 2 * * *',
      '@daily[America/Los_Angeles]',
      'H H(0-5) * * *[Europe/Paris]',
    ]) {
      const [given, stored] = readBack(schedule);
      expect(stored).toMatchObject({
        cron: given.cron,
        timezone: given.timezone,
      });
      let after = new Date('2026-12-01T00:00:00Z');
      for (let i = 0; i < 3; i += 1) {
        const next = given.nextAfter(after);
        expect(stored.nextAfter(after)).toEqual(next);
        after = next;
      }
    }
  });

  it('is not measured again: a schedule of 200 characters with its zone added reads back', () => {
    const cron = `${Array.from({ length: 60 }, (_, i) =>
      String(i).padStart(2, '0'),
    ).join(',')} */1 */1 */1 */1 *`;
    expect(cron.length).toBe(197);
    const [given, stored] = readBack(cron);
    expect(given.timezone).toBe('UTC');
    expect(`${stored.cron}[${stored.timezone}]`.length).toBeGreaterThan(200);
    expect(stored.nextAfter(new Date('2026-12-01T00:00:00.500Z'))).toEqual(
      new Date('2026-12-01T00:00:01Z'),
    );
  });

  it('takes a zone that an older release stored in the wrong case: Intl knows it', () => {
    const stored = storedSchedule(
      { cron: '0 2 * * *', timezone: 'us/pacific' },
      OWNER,
    );
    expect(stored.nextAfter(new Date('2026-12-01T00:00:00Z'))).toEqual(
      new Date('2026-12-01T10:00:00Z'),
    );
  });

  it.each([
    [
      'a cron edited by hand',
      { cron: '61 * * * *', timezone: 'UTC' },
      'Constraint error',
    ],
    [
      'an impossible date',
      { cron: '0 0 30 2 *', timezone: 'UTC' },
      'Invalid explicit day of month',
    ],
    [
      'a zone this Node does not know',
      { cron: '@daily', timezone: 'Mars/Phobos' },
      '"Mars/Phobos" is not an IANA time zone',
    ],
  ])('refuses %s with InvalidScheduleError', (_label, row, problem) => {
    const err = thrownBy(() => storedSchedule(row, OWNER));
    expect(err).toBeInstanceOf(InvalidScheduleError);
    expect((err as InvalidScheduleError).problem).toContain(problem);
  });
});
