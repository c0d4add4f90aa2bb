/**
 * HTML built from templates whose every interpolated value is escaped, unless
 * it is itself `Html` (made by this tag). A value from the database can only
 * ever reach a page as text: there is no other way to produce markup.
 */
export class Html {
  /** @internal Only `html` and `joinHtml` make one. */
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

/** A value a template accepts: text (escaped), markup, nothing, or a list of them. */
export type HtmlValue =
  Html | string | number | null | undefined | false | readonly HtmlValue[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escapes text for an HTML element or a double- or single-quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) {
    return '';
  }
  if (value instanceof Html) {
    return value.text;
  }
  if (Array.isArray(value)) {
    return (value as readonly HtmlValue[]).map(render).join('');
  }
  return escapeHtml(String(value));
}

/** `` html`<td>${name}</td>` ``: `name` is escaped. */
export function html(
  strings: TemplateStringsArray,
  ...values: readonly HtmlValue[]
): Html {
  let text = strings[0] ?? '';
  values.forEach((value, i) => {
    text += render(value) + (strings[i + 1] ?? '');
  });
  return new Html(text);
}
