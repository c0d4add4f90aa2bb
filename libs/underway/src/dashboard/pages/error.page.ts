import { Html, html } from '../html';
import { layout, PageContext } from './layout';

/** A page for a 404 (an unknown run) and other refusals. */
export function errorPage(
  ctx: PageContext,
  status: number,
  message: string,
): Html {
  return layout(
    ctx,
    undefined,
    `${status}`,
    html`<h1>${status}</h1>
      <p class="notice">${message}</p>
      <p><a href="${ctx.base}">Back to the overview</a></p>`,
  );
}
