/*
 * What the CLI writes to a terminal holds values from the database (workflow
 * names, error messages, schedule keys, queue names), which anyone who can
 * enqueue, throw or insert may have filled with control characters: an
 * escape sequence that clears the screen, retitles the window or writes the
 * clipboard (OSC 52), a `\r` that overwrites what was printed before. As the
 * dashboard escapes HTML, the CLI prints them as visible escapes.
 */

/**
 * Characters a terminal acts on instead of showing: C0 controls (the
 * newline and the tab aside, which the callers decide about), DEL, C1
 * controls (U+009B is a one-character CSI for many terminals), and the
 * Unicode bidirectional controls, which reorder what is shown.
 */
const CONTROLS =
  // eslint-disable-next-line no-control-regex -- exactly what is looked for
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = {
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
};

/** `\x1b`, `\r`, `\x9b`, `\u202e`: a control character, made visible. */
function visible(char: string): string {
  const named = NAMED[char];
  if (named !== undefined) {
    return named;
  }
  const code = char.charCodeAt(0);
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Text for a terminal, lines kept: every control character but the newline
 * and the tab becomes a visible escape (`\x1b`, `\r`). An escape sequence
 * loses its ESC (or CSI), so what follows it is plain text.
 */
export function terminalText(text: string): string {
  return text.replace(CONTROLS, visible);
}

/** Text for one table cell or record value: a tab made visible too. */
export function terminalCell(text: string): string {
  return terminalText(text).replace(/\t/g, visible);
}

/** What JSON.stringify leaves as it is, among the characters above. */
const JSON_UNESCAPED =
  /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON for a terminal: `JSON.stringify` already escapes C0 controls, but
 * writes DEL, C1 controls and bidirectional controls as they are. They can
 * only stand inside strings, where `\uXXXX` means the same character: the
 * JSON parses to exactly the same values.
 */
export function terminalJson(json: string): string {
  return json.replace(
    JSON_UNESCAPED,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
