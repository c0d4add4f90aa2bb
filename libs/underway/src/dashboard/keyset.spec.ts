import { keysetPage } from './keyset';

describe('keysetPage', () => {
  const rows = [1, 2, 3, 4];

  it('reads forwards from the first page or a cursor', () => {
    expect(keysetPage(rows, { kind: 'first' }, 3)).toEqual({
      rows: [1, 2, 3],
      hasPrevious: false,
      hasNext: true,
    });
    expect(keysetPage([5, 6], { kind: 'after', key: 4 }, 3)).toEqual({
      rows: [5, 6],
      hasPrevious: true,
      hasNext: false,
    });
  });

  it('reads backwards before a cursor or from the end, and shows the rows in order', () => {
    expect(keysetPage([4, 3, 2, 1], { kind: 'before', key: 5 }, 3)).toEqual({
      rows: [2, 3, 4],
      hasPrevious: true,
      hasNext: true,
    });
    expect(keysetPage([2, 1], { kind: 'last' }, 3)).toEqual({
      rows: [1, 2],
      hasPrevious: false,
      hasNext: false,
    });
  });
});
