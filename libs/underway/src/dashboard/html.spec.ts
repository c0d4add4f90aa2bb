import { escapeHtml, Html, html } from './html';

// Under another name, so that Prettier leaves these templates as written.
const markup = html;

describe('html', () => {
  it('escapes every interpolated value, in text and in attributes', () => {
    const name = '<script>alert(1)</script>"><img src=x onerror=alert(2)>';
    const escaped =
      '&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;';
    const page = markup`<a title="${name}" data-x='${name}'>${name}</a>`;
    expect(page.text).toBe(
      `<a title="${escaped}" data-x='${escaped}'>${escaped}</a>`,
    );
    expect(escapeHtml(`&'\`"`)).toBe('&amp;&#39;&#96;&quot;');
  });

  it('keeps markup made by the tag, joins lists and drops null, undefined and false', () => {
    const items = ['<b>', 'ok'].map((t) => markup`<li>${t}</li>`);
    const list = markup`<ul>${items}</ul>${null}${undefined}${false}${0}`;
    expect(list.text).toBe('<ul><li>&lt;b&gt;</li><li>ok</li></ul>0');
  });

  it('cannot be fooled by an object that looks like markup', () => {
    const fake = { text: '<script>x</script>' } as unknown as Html;
    expect(markup`${fake}`.text).toBe('[object Object]');
  });
});
