import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, resolve } from 'node:path';

/**
 * The README links to the reference in docs/, and the pages to each other:
 * every local link must reach a file, and every `#anchor` a heading of it
 * (GitHub's anchors: the heading in lower case, punctuation dropped, spaces
 * as hyphens), so that moving a section cannot leave a link behind.
 */
const REPO_ROOT = resolve(__dirname, '..', '..');
const PAGES = [
  'README.md',
  ...readdirSync(join(REPO_ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => join('docs', name)),
];

/** Markdown without its fenced code blocks (a `#` there is no heading). */
function prose(path: string): string {
  return readFileSync(join(REPO_ROOT, path), 'utf8').replace(
    /^```[^\n]*\n[\s\S]*?^```$/gm,
    '',
  );
}

function anchorsOf(path: string): Set<string> {
  return new Set(
    [...prose(path).matchAll(/^#{1,6} (.+)$/gm)].map(([, title]) =>
      title!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}_\- ]/gu, '')
        .replace(/ /g, '-'),
    ),
  );
}

describe('the docs’ links', () => {
  it('reach a file and a heading of it, from the README and every page of docs/', () => {
    const broken: string[] = [];
    for (const page of PAGES) {
      for (const [, link] of prose(page).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(link!)) {
          continue;
        }
        const [path, anchor] = link!.split('#') as [string, string?];
        const target = path ? normalize(join(dirname(page), path)) : page;
        if (!existsSync(join(REPO_ROOT, target))) {
          broken.push(`${page}: ${link} (no file ${relative('.', target)})`);
        } else if (
          anchor &&
          target.endsWith('.md') &&
          !anchorsOf(target).has(anchor)
        ) {
          broken.push(`${page}: ${link} (no heading #${anchor})`);
        }
      }
    }
    expect(broken).toEqual([]);
    expect(PAGES.length).toBeGreaterThan(10);
  });
});
