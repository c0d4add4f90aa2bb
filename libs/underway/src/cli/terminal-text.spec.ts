import { terminalCell, terminalJson, terminalText } from './terminal-text';

describe('terminal text', () => {
  it('shows C0 controls (newline and tab aside), DEL, C1 and bidi controls as escapes', () => {
    expect(
      terminalText('a\x1b]52;c;eA==\x07b\x1b[2J\rc\x00\x7f\x9b2J\u202ed\n\te'),
    ).toBe('a\\x1b]52;c;eA==\\x07b\\x1b[2J\\rc\\x00\\x7f\\x9b2J\\u202ed\n\te');
  });

  it('leaves printable text alone, accents, CJK and emoji included', () => {
    const text = 'Café 東京 🚀 "quoted" \\ back-slash';
    expect(terminalText(text)).toBe(text);
    expect(terminalCell(text)).toBe(text);
  });

  it('shows a tab in a cell as \\t', () => {
    expect(terminalCell('a\tb\x1b')).toBe('a\\tb\\x1b');
  });

  it('escapes in JSON what JSON.stringify leaves raw, and parses back to the same value', () => {
    const value = { message: 'x\x1b[2J\x7f\x85\x9b\u202e\u2066y' };
    const json = terminalJson(JSON.stringify(value, null, 2));
    expect(json).not.toMatch(
      // eslint-disable-next-line no-control-regex -- none may be left
      /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e\u2066]/,
    );
    expect(JSON.parse(json)).toEqual(value);
  });
});
