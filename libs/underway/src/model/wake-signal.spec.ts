import { parseWakeSignal } from './wake-signal';

describe('parseWakeSignal', () => {
  it('reads the four payloads the statements send', () => {
    expect(parseWakeSignal('')).toEqual({ kind: 'claim', inMs: 0 });
    expect(parseWakeSignal('250')).toEqual({ kind: 'claim', inMs: 250 });
    expect(
      parseWakeSignal('cancel:01900000-0000-7000-8000-000000000000'),
    ).toEqual({
      kind: 'cancel',
      runId: '01900000-0000-7000-8000-000000000000',
    });
    expect(parseWakeSignal('schedules')).toEqual({ kind: 'schedules' });
  });

  it('reads anything else as "claim now": a notification is only a hint', () => {
    for (const payload of ['-5', 'NaN', 'Infinity', 'soon', '0']) {
      expect(parseWakeSignal(payload)).toEqual({ kind: 'claim', inMs: 0 });
    }
  });
});
