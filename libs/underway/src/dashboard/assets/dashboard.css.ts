/** The dashboard's stylesheet, served from the dashboard itself (no CDN). */
export const DASHBOARD_CSS = `
:root{--fg:#1d2330;--muted:#6a7385;--line:#e3e6ec;--bg:#f6f7f9;--card:#fff;--accent:#3457d5;
--ok:#17804a;--bad:#c0392b;--warn:#b7791f;--idle:#5b6577;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:14px;color:var(--fg);background:var(--bg)}
*{box-sizing:border-box}body{margin:0}a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
.top{display:flex;align-items:center;gap:1.5rem;padding:.6rem 1.5rem;background:#1d2330;color:#fff}
.top a{color:#cfd6e6}.top a[aria-current=page]{color:#fff;font-weight:600}.brand{font-weight:700;color:#fff!important;letter-spacing:.02em}
.top nav{display:flex;gap:1.1rem}.read-only{margin-left:auto;background:#f0c36d;color:#1d2330;border-radius:3px;padding:.1rem .5rem;font-size:.8rem}
main{padding:1rem 1.5rem 3rem;max-width:1400px}h1{font-size:1.35rem;margin:.4rem 0 1rem}h2{font-size:1.1rem;margin:1.6rem 0 .6rem}h3{font-size:.95rem;margin:1rem 0 .3rem}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.92em;overflow-wrap:anywhere}
.grid{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line)}
.grid th,.grid td{padding:.45rem .6rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
.grid thead th{background:#eef0f4;font-weight:600;font-size:.85rem;color:#3a4254}.grid tbody th{font-weight:500}
.grid tbody tr:hover{background:#fafbfd}.empty{color:var(--muted);text-align:center;padding:1.2rem}
.muted,.zero{color:var(--muted)}.alert{color:var(--bad);font-weight:600}.notice{background:#fff8e6;border:1px solid #f0d79a;padding:.5rem .8rem;border-radius:4px}
.totals{display:flex;flex-wrap:wrap;gap:.8rem;list-style:none;padding:0;margin:0 0 1rem}
.totals li{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.5rem .9rem}.totals strong{font-size:1.2rem;margin-right:.3rem}
.state{display:inline-block;border-radius:10px;padding:.05rem .55rem;font-size:.78rem;font-weight:600;background:#e8ebf1;color:var(--idle)}
.state-succeeded,.state-received,.state-consumed,.state-done{background:#dff3e7;color:var(--ok)}.state-failed,.state-timed_out,.state-lease_expired{background:#fbe3e0;color:var(--bad)}
.state-running{background:#e1e8fd;color:var(--accent)}.state-waiting,.state-pending{background:#fdf1dc;color:var(--warn)}.state-cancelled{background:#eceef2;color:#555}
.count{font-weight:600}.count-failed{color:var(--bad)}
.error code{background:#fbe3e0;color:var(--bad);padding:0 .3rem;border-radius:3px;margin-right:.3rem}.error-cell{max-width:32rem;overflow-wrap:anywhere}
.filters{display:flex;flex-wrap:wrap;align-items:end;gap:.8rem;margin-bottom:1rem;background:var(--card);border:1px solid var(--line);padding:.7rem;border-radius:6px}
.filters label{display:flex;flex-direction:column;font-size:.8rem;color:#3a4254;gap:.2rem}
input,select,button{font:inherit;padding:.3rem .45rem;border:1px solid #c9ced8;border-radius:4px;background:#fff}
button{cursor:pointer;background:var(--accent);color:#fff;border-color:var(--accent)}button.action{background:#fff;color:var(--accent)}
button.action.confirming{background:var(--bad);border-color:var(--bad);color:#fff}button:disabled{opacity:.6;cursor:wait}
.pager{display:flex;justify-content:space-between;margin-top:.8rem}
.actions{display:flex;align-items:center;gap:.8rem;margin:0 0 1rem}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1.2rem;background:var(--card);border:1px solid var(--line);padding:.8rem 1rem;border-radius:6px}
.facts dt{color:var(--muted)}.facts dd{margin:0}
.timeline{list-style:none;padding:0;margin:0;border-left:3px solid var(--line)}
.step{margin:0 0 1rem;padding:.2rem 0 .2rem 1rem;position:relative}
.step:before{content:"";position:absolute;left:-8px;top:.55rem;width:13px;height:13px;border-radius:50%;background:#c9ced8}
.step-done:before,.step-succeeded:before{background:var(--ok)}.step-failed:before{background:var(--bad)}.step-running:before{background:var(--accent)}
.step-waiting:before,.step-pending:before{background:var(--warn)}.step-index{color:var(--muted);font-family:ui-monospace,monospace}
.attempts{border-collapse:collapse;margin:.4rem 0;font-size:.85rem;background:var(--card)}.attempts td,.attempts th{border:1px solid var(--line);padding:.2rem .5rem;text-align:left}
.calls{list-style:none;padding-left:1rem;margin:.3rem 0}.call{margin:.4rem 0}.kind{font-family:ui-monospace,monospace;color:var(--muted)}
.payload{background:#fff;border:1px solid var(--line);padding:.6rem;max-height:24rem;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere}
#flash{margin:0 0 1rem;padding:.5rem .8rem;border-radius:4px;background:#dff3e7;border:1px solid #a9d8bb}#flash.bad{background:#fbe3e0;border-color:#efb1a9}
.signal-form .form-flash{padding:.5rem .8rem;border-radius:4px;background:#fbe3e0;border:1px solid #efb1a9;color:var(--fg)}.form-flash[hidden]{display:none}
.queue-name{overflow-wrap:anywhere}
.waits{list-style:none;padding:0;margin:0}.signal-form{display:flex;flex-wrap:wrap;align-items:end;gap:.8rem;margin:1rem 0;background:var(--card);border:1px solid var(--line);padding:.7rem;border-radius:6px}
.signal-form h3,.signal-form p{flex-basis:100%;margin:0}.signal-form label{display:flex;flex-direction:column;font-size:.8rem;color:#3a4254;gap:.2rem}
textarea{font:inherit;font-family:ui-monospace,monospace;padding:.3rem .45rem;border:1px solid #c9ced8;border-radius:4px;min-width:24rem}#signal-list th[scope=row]{overflow-wrap:anywhere}
#child-list th[scope=row]{overflow-wrap:anywhere}.child-output{margin:.3rem 0;padding:.3rem .5rem;max-height:8rem}
`;
