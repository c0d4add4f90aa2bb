import {
  InvalidInputError,
  PayloadTooLargeError,
  Step,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';

const received: unknown[] = [];

@Workflow({ name: 'echo' })
class EchoWorkflow {
  @Step()
  async echo(input: unknown) {
    received.push(input);
    return Transition.complete(input);
  }
}

@Workflow({ name: 'bad-output' })
class BadOutputWorkflow {
  @Step()
  async first(input: { kind: string }) {
    if (input.kind === 'next') {
      return Transition.next({ when: 10n });
    }
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    return Transition.complete({ circular });
  }

  @Step()
  async second() {
    return Transition.complete();
  }
}

const circular: { name: string; self?: unknown } = { name: 'loop' };
circular.self = circular;

describe('input validation at the edge', () => {
  beforeEach(() => {
    received.length = 0;
  });

  it.each([
    ['a BigInt', { user: { id: 1n } }, '$.user.id', /BigInt/],
    ['a circular reference', { data: circular }, '$.data.self', /circular/],
    ['\\u0000 in a string', { note: 'a\u0000b' }, '$.note', /\\u0000/],
    ['a lone surrogate', { note: 'x\uD800y' }, '$.note', /surrogate/],
    ['a function', { cb: () => 1 }, '$.cb', /function/],
    ['a symbol', { tag: Symbol('t') }, '$.tag', /symbol/],
    ['NaN', { ratio: NaN }, '$.ratio', /not a finite number/],
    [
      'Infinity in an array',
      { values: [1, Infinity] },
      '$.values[1]',
      /not a finite number/,
    ],
    ['a Map', { index: new Map([[1, 2]]) }, '$.index', /Map/],
  ])(
    'rejects %s with InvalidInputError naming its path, writing nothing',
    async (_what, input, path, message) => {
      const { client, schema } = await createTestApp({
        workflows: [EchoWorkflow],
      });
      const error = await client
        .enqueue(EchoWorkflow, input)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect(error).toMatchObject({ code: 'invalid_input', path });
      expect((error as Error).message).toMatch(message);
      expect(await query(`select 1 from ${schema}.workflow_run`)).toHaveLength(
        0,
      );
    },
  );

  it('rejects an input over maxInputSize with PayloadTooLargeError, writing nothing', async () => {
    const { client, schema } = await createTestApp({
      workflows: [EchoWorkflow],
      underway: { maxInputSize: 1_000 },
    });
    const error = await client
      .enqueue(EchoWorkflow, { blob: 'é'.repeat(600) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect(error).toMatchObject({ sizeBytes: 1_211, limitBytes: 1_000 });
    expect(await query(`select 1 from ${schema}.workflow_run`)).toHaveLength(0);
    await expect(
      client.enqueue(EchoWorkflow, { blob: 'e'.repeat(900) }),
    ).resolves.toBeDefined();
  });

  it('follows JSON: undefined properties are omitted and Dates become ISO strings', async () => {
    const { client } = await createTestApp({ workflows: [EchoWorkflow] });
    const run = await client.enqueue(EchoWorkflow, {
      at: new Date('2026-01-02T03:04:05.000Z'),
      missing: undefined,
      nested: [{ ok: true, gone: undefined }],
    });
    await expect(run.result({ timeout: 5_000 })).resolves.toEqual({
      at: '2026-01-02T03:04:05.000Z',
      nested: [{ ok: true }],
    });
  });

  it('accepts no input at all for workflows that take none, and keeps emoji intact', async () => {
    const { client } = await createTestApp({ workflows: [EchoWorkflow] });
    await expect(
      (await client.enqueue(EchoWorkflow)).result({ timeout: 5_000 }),
    ).resolves.toBeUndefined();
    await expect(
      (await client.enqueue(EchoWorkflow, null)).result({ timeout: 5_000 }),
    ).resolves.toBeNull();
    await expect(
      (await client.enqueue(EchoWorkflow, '🚀 ünïcode')).result({
        timeout: 5_000,
      }),
    ).resolves.toBe('🚀 ünïcode');
    expect(received).toEqual([undefined, null, '🚀 ünïcode']);
  });

  it('fails the run, without retrying, when a step returns an output that cannot be stored', async () => {
    const { client } = await createTestApp({ workflows: [BadOutputWorkflow] });
    const output = await client.enqueue(BadOutputWorkflow, {
      kind: 'complete',
    });
    await expect(output.result({ timeout: 5_000 })).rejects.toMatchObject({
      state: 'failed',
      errorCode: 'invalid_input',
      errorMessage: expect.stringMatching(
        /Invalid workflow output at \$\.circular\.self: a circular reference/,
      ),
    });
    const next = await client.enqueue(BadOutputWorkflow, { kind: 'next' });
    await expect(next.result({ timeout: 5_000 })).rejects.toMatchObject({
      errorCode: 'invalid_input',
      errorMessage: expect.stringMatching(/step input at \$\.when: a BigInt/),
    });
    expect((await client.getRun(next.id))?.attempts).toHaveLength(1);
  });
});
