const UNSTORABLE =
  // eslint-disable-next-line no-control-regex -- \u0000 is exactly what is looked for
  /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text that PostgreSQL can store in `text` and `jsonb`: `\u0000` and lone
 * surrogates become U+FFFD, and text over `maxLength` is cut on a character
 * boundary (never inside a surrogate pair) and ends with `…`.
 */
export function storableText(text: string, maxLength = Infinity): string {
  let clean = text.replace(UNSTORABLE, '\uFFFD');
  if (clean.length > maxLength) {
    let end = maxLength;
    const last = clean.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      end -= 1; // do not keep half of a surrogate pair
    }
    clean = `${clean.slice(0, end)}…`;
  }
  return clean;
}
