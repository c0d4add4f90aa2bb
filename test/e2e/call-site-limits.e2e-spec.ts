import {
  InvalidInputError,
  InvalidOptionsError,
  PayloadTooLargeError,
  ResultTimeoutError,
  Step,
  StepError,
  Transition,
  Workflow,
  WorkflowClient,
} from '@underway/nestjs';
import {
  INT32_MAX,
  INT32_MIN,
  MAX_DEAD_LETTER_LIMIT,
  MAX_PAYLOAD_DEPTH,
  MAX_RUN_AT_MS,
  MAX_STORED_DURATION_MS,
  MIN_RUN_AT_MS,
} from '@underway/nestjs/common/limits';
import { createTestApp, TestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { sleep } from '../support/wait-for';

/*
 * Every argument and option of the client pushed to its extremes: the largest
 * and smallest accepted values run end to end, one past them is a typed error
 * (class and message) with nothing written.
 */

const DLQ = 'limits-dlq';
const received: unknown[] = [];

@Workflow({ name: 'limits-echo' })
class EchoWorkflow {
  @Step()
  async echo(input: unknown) {
    received.push(input);
    return Transition.complete(input);
  }
}

/** Returns its input one level deeper: an output past the depth limit. */
@Workflow({ name: 'limits-wrap' })
class WrapWorkflow {
  @Step()
  async wrap(input: unknown) {
    return Transition.complete([input]);
  }
}

/** Fails at once into the dead-letter queue. */
@Workflow({ name: 'limits-charge', deadLetter: DLQ })
class FailingWorkflow {
  @Step({ retry: { maxAttempts: 1 } })
  async charge() {
    throw StepError.fatal('declined', 'The card was declined');
  }
}

/** Waits an hour before its step: its runs stay pending through a test. */
@Workflow({ name: 'limits-parked' })
class ParkedWorkflow {
  @Step({ delay: '1h' })
  async later() {
    return Transition.complete();
  }
}

const WORKFLOWS = [EchoWorkflow, WrapWorkflow, FailingWorkflow, ParkedWorkflow];

/** `depth` arrays, one inside the other, around `leaf`: `[[leaf]]` is 2 deep. */
function nested(depth: number, leaf: unknown = 'leaf'): unknown {
  let value: unknown = [leaf];
  for (let level = 1; level < depth; level++) {
    value = [value];
  }
  return value;
}

/** 255 UTF-16 code units, astral characters (two units each) included. */
const LONGEST_KEY = `${'😀'.repeat(127)}k`;

async function runCount(schema: string): Promise<number> {
  const [row] = await query<{ n: number }>(
    `select count(*)::int as n from ${schema}.workflow_run`,
  );
  return row!.n;
}

async function redrivenCount(schema: string): Promise<number> {
  const [row] = await query<{ n: number }>(
    `select count(*)::int as n from ${schema}.dead_letter where redriven_at is not null`,
  );
  return row!.n;
}

/**
 * What `call` rejects with: asserts its class and message, and that it wrote
 * nothing (no run, no dead-letter entry redriven).
 */
async function expectRefused(
  app: TestApp,
  call: () => Promise<unknown>,
  errorClass: new (...args: never[]) => Error,
  message: string | RegExp,
): Promise<Error> {
  const runsBefore = await runCount(app.schema);
  const redrivenBefore = await redrivenCount(app.schema);
  let error: unknown;
  try {
    await call();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(errorClass);
  if (typeof message === 'string') {
    expect((error as Error).message).toBe(message);
  } else {
    expect((error as Error).message).toMatch(message);
  }
  expect(await runCount(app.schema)).toBe(runsBefore);
  expect(await redrivenCount(app.schema)).toBe(redrivenBefore);
  return error as Error;
}

/** Fails `count` runs into the dead-letter queue and waits until they are there. */
async function deadLetter(client: WorkflowClient, count: number) {
  const runs = await client.enqueueMany(
    FailingWorkflow,
    Array.from({ length: count }, (_, i) => ({ order: i })),
  );
  await Promise.all(
    runs.map((run) => run.result({ timeout: 5_000 }).catch(() => undefined)),
  );
  return runs;
}

/** Dead-letter entries of parked runs, written directly (thousands at once). */
async function insertDeadLetters(schema: string, count: number) {
  await query(
    `insert into ${schema}.dead_letter (queue, run_id, workflow_name, input)
     select $1, gen_random_uuid(), 'limits-parked', jsonb_build_object('n', n)
     from generate_series(1, $2::int) n`,
    [DLQ, count],
  );
}

const OPTION_MESSAGE = (key: string, call: string, known: string) =>
  `Invalid option ${key}: is not ${call} option (known: ${known}).`;
const NOT_AN_OBJECT = (known: string, got: string) =>
  `Invalid option options: must be an object with some of the keys ${known}, got ${got}.`;

describe('call-site limits', () => {
  beforeEach(() => {
    received.length = 0;
  });

  describe('every options object refuses unknown keys', () => {
    // Regression (fixed): a misspelt runIds redrove every entry of the queue.
    it('redrive with a misspelt runIds redrives nothing and says which key was meant', async () => {
      const app = await createTestApp({ workflows: WORKFLOWS });
      const [first] = await deadLetter(app.client, 2);
      const runs = await runCount(app.schema);
      await expectRefused(
        app,
        () => app.client.redrive(DLQ, { runId: [first!.id] } as never),
        InvalidOptionsError,
        'Invalid option runId: is not a redrive option (known: runIds, limit, manager; did you mean runIds?).',
      );
      expect(await runCount(app.schema)).toBe(runs);
      const redriven = await app.client.redrive(DLQ, { runIds: [first!.id] });
      expect(redriven).toHaveLength(1);
    });

    const KNOWN = {
      enqueue:
        'manager, delay, runAt, priority, concurrencyKey, idempotencyKey',
      enqueueMany: 'manager, delay, runAt, priority, concurrencyKey',
      deadLetters: 'runIds, limit, manager',
    };
    const calls: [
      string,
      string,
      string,
      (app: TestApp, runId: string, options: unknown) => Promise<unknown>,
    ][] = [
      [
        'enqueue',
        'an enqueue',
        KNOWN.enqueue,
        (app, _id, options) =>
          app.client.enqueue(EchoWorkflow, {}, options as never),
      ],
      [
        'enqueueMany',
        'an enqueueMany',
        KNOWN.enqueueMany,
        (app, _id, options) =>
          app.client.enqueueMany(EchoWorkflow, [{}], options as never),
      ],
      [
        'cancel',
        'a cancel',
        'manager',
        (app, id, options) => app.client.cancel(id, options as never),
      ],
      [
        'redrive',
        'a redrive',
        KNOWN.deadLetters,
        (app, _id, options) => app.client.redrive(DLQ, options as never),
      ],
      [
        'getDeadLetters',
        'a getDeadLetters',
        KNOWN.deadLetters,
        (app, _id, options) => app.client.getDeadLetters(DLQ, options as never),
      ],
      [
        'WorkflowClient.result',
        'a result',
        'timeout',
        (app, id, options) => app.client.result(id, options as never),
      ],
      [
        'WorkflowRun.result',
        'a result',
        'timeout',
        (app, id, options) =>
          app.client.run(id, 'limits-parked').result(options as never),
      ],
    ];

    it.each(calls)(
      '%s: an unknown key, or options that are not an object, are an InvalidOptionsError; nothing is written',
      async (_name, call, known, invoke) => {
        const app = await createTestApp({ workflows: WORKFLOWS });
        await deadLetter(app.client, 1);
        const parked = await app.client.enqueue(ParkedWorkflow);
        const refuse = (options: unknown, message: string) =>
          expectRefused(
            app,
            () => invoke(app, parked.id, options),
            InvalidOptionsError,
            message,
          );
        const error = await refuse(
          { colour: 'red' },
          OPTION_MESSAGE('colour', call, known),
        );
        expect(error).toMatchObject({
          code: 'invalid_options',
          path: 'colour',
        });
        // A known key with undefined does not hide an unknown one.
        await refuse(
          { [known.split(', ')[0]!]: undefined, colour: undefined },
          OPTION_MESSAGE('colour', call, known),
        );
        class Options {
          manager = undefined;
        }
        for (const [options, got] of [
          ['a string', '"a string"'],
          [['manager'], 'an array'],
          [null, 'null'],
          [42, '42'],
          [new Options(), 'an instance of Options'],
          [Object.create({ limit: 1 }), 'an object that inherits properties'],
        ] as const) {
          const refused = await refuse(options, NOT_AN_OBJECT(known, got));
          expect(refused).toMatchObject({ path: 'options' });
        }
        expect(await parked.status()).toBe('pending');
      },
    );

    it('accepts options without a prototype, and no options at all', async () => {
      const app = await createTestApp({ workflows: WORKFLOWS });
      const options = Object.assign(Object.create(null) as object, {
        priority: 3,
      });
      const run = await app.client.enqueue(EchoWorkflow, 'x', options);
      await expect(app.client.result(run.id, undefined)).resolves.toBe('x');
    });
  });

  describe('keys and names are validated like inputs', () => {
    it.each(['idempotencyKey', 'concurrencyKey'] as const)(
      '%s: 1 and 255 characters (astral ones included) run end to end and are stored as given',
      async (key) => {
        const app = await createTestApp({ workflows: WORKFLOWS });
        for (const value of ['k', LONGEST_KEY]) {
          expect(value.length).toBeLessThanOrEqual(255);
          const run = await app.client.enqueue(EchoWorkflow, value, {
            [key]: value,
          });
          await expect(run.result({ timeout: 5_000 })).resolves.toBe(value);
          const column =
            key === 'idempotencyKey' ? 'idempotency_key' : 'concurrency_key';
          const [row] = await query<{ key: string }>(
            `select ${column} as key from ${app.schema}.workflow_run where id = $1`,
            [run.id],
          );
          expect(row!.key).toBe(value);
        }
        expect(LONGEST_KEY).toHaveLength(255);
      },
    );

    it.each(['idempotencyKey', 'concurrencyKey'] as const)(
      '%s: one past the limits is an InvalidOptionsError naming it; nothing is written',
      async (key) => {
        const app = await createTestApp({ workflows: WORKFLOWS });
        const cases: [unknown, string][] = [
          [`${LONGEST_KEY}x`, 'must be at most 255 characters long, got 256'],
          ['', 'must not be empty'],
          [42, 'must be a string, got number'],
          [null, 'must be a string, got null'],
          // Regression (fixed): lone surrogates were stored as U+FFFD, so these two keys
          // were one.
          ['order-\uD83D', 'must not contain \\u0000 or a lone surrogate'],
          ['order-\uDE00', 'must not contain \\u0000 or a lone surrogate'],
          ['order-\u0000', 'must not contain \\u0000 or a lone surrogate'],
        ];
        for (const [value, problem] of cases) {
          const error = await expectRefused(
            app,
            () => app.client.enqueue(EchoWorkflow, {}, { [key]: value }),
            InvalidOptionsError,
            new RegExp(
              `^Invalid option ${key}: ${problem.replace(/[\\()]/g, '\\$&')}`,
            ),
          );
          expect(error).toMatchObject({ path: key });
        }
        expect(await runCount(app.schema)).toBe(0);
      },
    );

    it('the queue of getDeadLetters and redrive: 255 characters are accepted, anything else that is not a name is refused', async () => {
      const app = await createTestApp({ workflows: WORKFLOWS });
      await expect(app.client.getDeadLetters(LONGEST_KEY)).resolves.toEqual([]);
      await expect(app.client.redrive(LONGEST_KEY)).resolves.toEqual([]);
      await deadLetter(app.client, 1);
      const cases: [unknown, string][] = [
        // Regression (fixed): getDeadLetters(123) was accepted.
        [123, 'must be a string, got number'],
        [undefined, 'must be a string, got undefined'],
        ['', 'must not be empty'],
        [`${LONGEST_KEY}x`, 'must be at most 255 characters long, got 256'],
        [
          `${DLQ}\uD800`,
          'must not contain \\u0000 or a lone surrogate (PostgreSQL cannot store them as they are)',
        ],
      ];
      for (const [queue, problem] of cases) {
        for (const call of [
          () => app.client.getDeadLetters(queue as string),
          () => app.client.redrive(queue as string),
        ]) {
          const error = await expectRefused(
            app,
            call,
            InvalidOptionsError,
            `Invalid option queue: ${problem}.`,
          );
          expect(error).toMatchObject({ path: 'queue' });
        }
      }
    });
  });

  describe('numbers are bounded where they are parsed', () => {
    it('priority: INT32_MIN and INT32_MAX run end to end; one past them, fractions and non-numbers are refused', async () => {
      const app = await createTestApp({ workflows: WORKFLOWS });
      for (const priority of [INT32_MIN, INT32_MAX]) {
        const run = await app.client.enqueue(EchoWorkflow, priority, {
          priority,
        });
        await expect(run.result({ timeout: 5_000 })).resolves.toBe(priority);
        expect((await app.client.getRun(run.id))?.priority).toBe(priority);
      }
      for (const [priority, got] of [
        [INT32_MIN - 1, '-2147483649'],
        [INT32_MAX + 1, '2147483648'],
        [1.5, '1.5'],
        [NaN, 'NaN'],
        ['1', '"1"'],
      ] as const) {
        await expectRefused(
          app,
          () => app.client.enqueue(EchoWorkflow, {}, { priority } as never),
          InvalidOptionsError,
          `Invalid option priority: must be an integer from -2147483648 to 2147483647, got ${got}.`,
        );
      }
    });

    it('delay: 0 runs at once, 100 years stays pending (its row says so); one past, 1e20 and negatives are refused', async () => {
      const app = await createTestApp({ workflows: WORKFLOWS });
      const now = await app.client.enqueue(EchoWorkflow, 'now', { delay: 0 });
      await expect(now.result({ timeout: 5_000 })).resolves.toBe('now');
      const later = await app.client.enqueue(EchoWorkflow, 'later', {
        delay: MAX_STORED_DURATION_MS,
      });
      const same = await app.client.enqueue(EchoWorkflow, 'later', {
        delay: '36525d',
      });
      await sleep(300); // three poll intervals
      const rows = await query<{ state: string; attempt: number; ms: string }>(
        `select state, attempt,
           (extract(epoch from run_at - created_at) * 1000)::bigint::text as ms
         from ${app.schema}.workflow_run where id = any($1::uuid[]) order by id`,
        [[later.id, same.id]],
      );
      expect(rows).toEqual([
        { state: 'pending', attempt: 0, ms: String(MAX_STORED_DURATION_MS) },
        { state: 'pending', attempt: 0, ms: String(MAX_STORED_DURATION_MS) },
      ]);
      const bounds = `must be between 0ms and ${MAX_STORED_DURATION_MS}ms (100 years)`;
      for (const [delay, message] of [
        [
          MAX_STORED_DURATION_MS + 1,
          `${bounds}, got ${MAX_STORED_DURATION_MS + 1}ms`,
        ],
        ['36526d', `${bounds}, got ${MAX_STORED_DURATION_MS + 86_400_000}ms`],
        [1e20, `${bounds}, got 100000000000000000000ms`],
        [-1, 'must be a non-negative number of milliseconds, got -1'],
      ] as const) {
        await expectRefused(
          app,
          () => app.client.enqueue(EchoWorkflow, {}, { delay }),
          InvalidOptionsError,
          `Invalid option delay: ${message}.`,
        );
        await expectRefused(
          app,
          () => app.client.enqueueMany(EchoWorkflow, [{}], { delay }),
          InvalidOptionsError,
          `Invalid option delay: ${message}.`,
        );
      }
    });

    it('runAt: the earliest runs at once, the latest stays pending at exactly that time; one past either is refused', async () => {
      const app = await createTestApp({ workflows: WORKFLOWS });
      const earliest = await app.client.enqueue(EchoWorkflow, 'earliest', {
        runAt: new Date(MIN_RUN_AT_MS),
      });
      await expect(earliest.result({ timeout: 5_000 })).resolves.toBe(
        'earliest',
      );
      const latest = await app.client.enqueue(EchoWorkflow, 'latest', {
        runAt: new Date(MAX_RUN_AT_MS),
      });
      await sleep(300);
      const [row] = await query<{ state: string; run_at: Date }>(
        `select state, run_at from ${app.schema}.workflow_run where id = $1`,
        [latest.id],
      );
      expect(row!.state).toBe('pending');
      expect(row!.run_at.getTime()).toBe(MAX_RUN_AT_MS);
      const range =
        'must be a Date from 1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z';
      for (const [runAt, got] of [
        [new Date(MIN_RUN_AT_MS - 1), '1969-12-31T23:59:59.999Z'],
        [new Date(MAX_RUN_AT_MS + 1), '+010000-01-01T00:00:00.000Z'],
        // Regression (fixed): before 4713 BC PostgreSQL refused it with a raw DatabaseError.
        [new Date(Date.UTC(-5000, 0, 1)), '-005000-01-01T00:00:00.000Z'],
        [new Date(8.64e15), '+275760-09-13T00:00:00.000Z'],
        [new Date('nope'), 'an Invalid Date'],
        [MIN_RUN_AT_MS, '0'],
        ['2030-01-01', '"2030-01-01"'],
      ] as const) {
        await expectRefused(
          app,
          () => app.client.enqueue(EchoWorkflow, {}, { runAt } as never),
          InvalidOptionsError,
          `Invalid option runAt: ${range}, got ${got}.`,
        );
      }
    });

    it('limit of getDeadLetters and redrive: 1 and 10,000 work end to end; 0, 10,001, 1e20 and fractions are refused', async () => {
      const app = await createTestApp({ workflows: WORKFLOWS });
      await insertDeadLetters(app.schema, MAX_DEAD_LETTER_LIMIT + 2);
      expect(await app.client.getDeadLetters(DLQ, { limit: 1 })).toHaveLength(
        1,
      );
      expect(
        await app.client.getDeadLetters(DLQ, { limit: MAX_DEAD_LETTER_LIMIT }),
      ).toHaveLength(MAX_DEAD_LETTER_LIMIT);
      expect(await app.client.redrive(DLQ, { limit: 1 })).toHaveLength(1);
      expect(
        await app.client.redrive(DLQ, { limit: MAX_DEAD_LETTER_LIMIT }),
      ).toHaveLength(MAX_DEAD_LETTER_LIMIT);
      expect(await runCount(app.schema)).toBe(MAX_DEAD_LETTER_LIMIT + 1);
      expect(await redrivenCount(app.schema)).toBe(MAX_DEAD_LETTER_LIMIT + 1);
      for (const [limit, got] of [
        [0, '0'],
        [MAX_DEAD_LETTER_LIMIT + 1, '10001'],
        [1e20, '100000000000000000000'],
        [1.5, '1.5'],
        ['10', '"10"'],
      ] as const) {
        for (const call of [
          () => app.client.getDeadLetters(DLQ, { limit } as never),
          () => app.client.redrive(DLQ, { limit } as never),
        ]) {
          await expectRefused(
            app,
            call,
            InvalidOptionsError,
            `Invalid option limit: must be an integer from 1 to 10000, got ${got}.`,
          );
        }
      }
    });

    it('runIds: an array of run ids, without holes', async () => {
      const app = await createTestApp({ workflows: WORKFLOWS });
      const [run] = await deadLetter(app.client, 1);
      for (const [runIds, message] of [
        [run!.id, 'runIds: must be an array of run ids (UUIDs), got "'],
        [[run!.id, 'nope'], 'runIds[1]: must be a run id (a UUID), got "nope"'],
        // eslint-disable-next-line no-sparse-arrays -- the hole is the point
        [[, run!.id], 'runIds[0]: must be a run id (a UUID), got a hole'],
      ] as const) {
        await expectRefused(
          app,
          () => app.client.redrive(DLQ, { runIds } as never),
          InvalidOptionsError,
          new RegExp(`^Invalid option ${message.replace(/[[\]()]/g, '\\$&')}`),
        );
      }
    });

    it('result({ timeout }): 0 and 100 years are accepted; one past and negatives are refused', async () => {
      const app = await createTestApp({ workflows: WORKFLOWS });
      const done = await app.client.enqueue(EchoWorkflow, 'done');
      await expect(
        done.result({ timeout: MAX_STORED_DURATION_MS }),
      ).resolves.toBe('done');
      await expect(done.result({ timeout: 0 })).resolves.toBe('done');
      const parked = await app.client.enqueue(ParkedWorkflow);
      await expect(parked.result({ timeout: 0 })).rejects.toThrow(
        ResultTimeoutError,
      );
      for (const [timeout, message] of [
        [
          MAX_STORED_DURATION_MS + 1,
          `must be between 0ms and ${MAX_STORED_DURATION_MS}ms (100 years), got ${MAX_STORED_DURATION_MS + 1}ms`,
        ],
        [-1, 'must be a non-negative number of milliseconds, got -1'],
      ] as const) {
        for (const call of [
          () => parked.result({ timeout }),
          () => app.client.result(parked.id, { timeout }),
        ]) {
          await expectRefused(
            app,
            call,
            InvalidOptionsError,
            `Invalid option timeout: ${message}.`,
          );
        }
      }
    });
  });

  describe('enqueueMany', () => {
    // Regression (fixed): a hole gave an untyped error.
    it('refuses a sparse array with InvalidInputError naming the hole, and inputs that are not an array; nothing is written', async () => {
      const app = await createTestApp({ workflows: WORKFLOWS });
      // eslint-disable-next-line no-sparse-arrays -- the hole is the point
      const sparse = [1, , 3];
      const error = await expectRefused(
        app,
        () => app.client.enqueueMany(EchoWorkflow, sparse),
        InvalidInputError,
        'Invalid workflow input at inputs[1]: a hole in a sparse array is not allowed ' +
          '(pass undefined for a run without input). Inputs and outputs must be JSON-serializable.',
      );
      expect(error).toMatchObject({ code: 'invalid_input', path: 'inputs[1]' });
      for (const [inputs, got] of [
        ['abc', '"abc"'],
        [{ length: 1, 0: 'x' }, '{"0":"x","length":1}'],
        [null, 'null'],
      ] as const) {
        await expectRefused(
          app,
          () => app.client.enqueueMany(EchoWorkflow, inputs as never),
          InvalidInputError,
          `Invalid workflow input at inputs: an array of inputs is expected, got ${got}. ` +
            'Inputs and outputs must be JSON-serializable.',
        );
      }
      const runs = await app.client.enqueueMany(EchoWorkflow, [
        1,
        undefined,
        3,
      ]);
      await expect(
        Promise.all(runs.map((run) => run.result({ timeout: 5_000 }))),
      ).resolves.toEqual([1, undefined, 3]);
    });
  });

  describe('payloads', () => {
    it('a payload of exactly maxInputSize bytes runs end to end; one byte more is PayloadTooLargeError', async () => {
      const app = await createTestApp({ workflows: WORKFLOWS });
      const limit = 1_048_576; // the default maxInputSize
      // 4-byte emoji, 2 ASCII letters and 2 quotes: exactly the limit.
      const input = `${'😀'.repeat((limit - 4) / 4)}xy`;
      expect(Buffer.byteLength(JSON.stringify(input))).toBe(limit);
      const run = await app.client.enqueue(EchoWorkflow, input);
      await expect(run.result({ timeout: 10_000 })).resolves.toBe(input);
      const error = await expectRefused(
        app,
        () => app.client.enqueue(EchoWorkflow, `${input}z`),
        PayloadTooLargeError,
        `Workflow input is ${limit + 1} bytes as JSON, over the ${limit}-byte limit (maxInputSize). ` +
          'Store large data elsewhere and pass a reference.',
      );
      expect(error).toMatchObject({ sizeBytes: limit + 1, limitBytes: limit });
    });

    it(`a value nested exactly ${MAX_PAYLOAD_DEPTH} levels deep runs end to end (jsonb takes it); one more, or 10,000, is InvalidInputError`, async () => {
      const app = await createTestApp({ workflows: WORKFLOWS });
      const deepest = nested(MAX_PAYLOAD_DEPTH);
      const run = await app.client.enqueue(EchoWorkflow, deepest);
      await expect(run.result({ timeout: 5_000 })).resolves.toEqual(deepest);
      const [row] = await query<{ depth: number }>(
        `select jsonb_array_length(input) as depth from ${app.schema}.workflow_run where id = $1`,
        [run.id],
      );
      expect(row!.depth).toBe(1);
      const tooDeep = `Invalid workflow input at $${'[0]'.repeat(MAX_PAYLOAD_DEPTH)}: an array or object nested deeper than ${MAX_PAYLOAD_DEPTH} levels is not allowed. Inputs and outputs must be JSON-serializable.`;
      // Regression (fixed): 10,000 levels overflowed the stack with a raw RangeError.
      for (const depth of [MAX_PAYLOAD_DEPTH + 1, 10_000]) {
        await expectRefused(
          app,
          () => app.client.enqueue(EchoWorkflow, nested(depth)),
          InvalidInputError,
          tooDeep,
        );
      }
      // An output one level deeper than its (deepest allowed) input fails the run, once.
      const wrapped = await app.client.enqueue(WrapWorkflow, deepest);
      await expect(wrapped.result({ timeout: 5_000 })).rejects.toMatchObject({
        state: 'failed',
        errorCode: 'invalid_input',
        errorMessage: expect.stringContaining(
          `Invalid workflow output at $${'[0]'.repeat(MAX_PAYLOAD_DEPTH)}: an array or object nested deeper`,
        ) as unknown,
      });
      expect((await app.client.getRun(wrapped.id))?.attempts).toHaveLength(1);
    });

    // Regression (fixed): the check called toJSON('') and JSON.stringify toJSON(key), so a
    // value checked harmless was stored as something else (here, what PostgreSQL refuses).
    it('checks what toJSON(key) returns for its key, which is what is stored', async () => {
      const app = await createTestApp({ workflows: WORKFLOWS });
      const chameleon = (stored: string) => ({
        toJSON: (key: string) => (key === '' ? 'checked' : stored),
      });
      const run = await app.client.enqueue(EchoWorkflow, {
        item: chameleon('stored'),
        list: [chameleon('in a list')],
      });
      await expect(run.result({ timeout: 5_000 })).resolves.toEqual({
        item: 'stored',
        list: ['in a list'],
      });
      expect(received).toEqual([{ item: 'stored', list: ['in a list'] }]);
      const error = await expectRefused(
        app,
        () => app.client.enqueue(EchoWorkflow, { item: chameleon('a\u0000b') }),
        InvalidInputError,
        /^Invalid workflow input at \$\.item: a string with \\u0000 or a lone surrogate/,
      );
      expect(error).toMatchObject({ path: '$.item' });
    });

    // Regression (fixed): binary data and Invalid Dates were stored as {} or null.
    it.each<[string, unknown, string]>([
      [
        'an ArrayBuffer',
        new ArrayBuffer(8),
        'an ArrayBuffer (convert it with Array.from or encode it as base64: Array.from(new Uint8Array(buffer)))',
      ],
      [
        'a SharedArrayBuffer',
        new SharedArrayBuffer(8),
        'a SharedArrayBuffer (convert it with Array.from or encode it as base64: Array.from(new Uint8Array(buffer)))',
      ],
      [
        'a DataView',
        new DataView(new ArrayBuffer(8)),
        'a DataView (convert it with Array.from or encode it as base64)',
      ],
      [
        'a Uint8Array',
        new Uint8Array([1, 2]),
        'a Uint8Array (convert it with Array.from or encode it as base64)',
      ],
      [
        'an Invalid Date',
        new Date('nope'),
        'an Invalid Date (JSON would store it as null)',
      ],
    ])(
      'refuses %s with advice; nothing is written',
      async (_what, value, problem) => {
        const app = await createTestApp({ workflows: WORKFLOWS });
        await expectRefused(
          app,
          () => app.client.enqueue(EchoWorkflow, { file: { data: value } }),
          InvalidInputError,
          `Invalid workflow input at $.file.data: ${problem} is not allowed. Inputs and outputs must be JSON-serializable.`,
        );
      },
    );
  });
});
