/** The passcode consent page: what client, which redirect host, and the passcode field. */
export interface ConsentView {
  clientName: string;
  redirectHost: string;
  params: URLSearchParams;
  error?: string;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function consentPage(view: ConsentView): string {
  const hidden = [...view.params]
    .filter(([k]) => k !== "passcode")
    .map(([k, v]) => `<input type="hidden" name="${escape(k)}" value="${escape(v)}">`)
    .join("\n      ");
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Sign in to Parley</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}code{background:#eee;padding:0 .2em}
.err{color:#a00}button{font-size:1rem;padding:.4rem 1rem}input[type=password]{font-size:1rem;width:100%;padding:.3rem}</style></head>
<body>
  <h1>Sign in to Parley</h1>
  <p><strong>${escape(view.clientName)}</strong> wants to use this Parley server as you.
  After you approve, you will be sent back to <code>${escape(view.redirectHost)}</code>.</p>
  ${view.error ? `<p class="err" role="alert">${escape(view.error)}</p>` : ""}
  <form method="post" action="authorize">
      ${hidden}
    <label>Server passcode <input type="password" name="passcode" autocomplete="current-password" autofocus required></label>
    <p><button type="submit">Approve</button></p>
  </form>
</body>
</html>`;
}

export function errorPage(title: string, message: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body style="font:16px system-ui,sans-serif;max-width:32rem;margin:4rem auto"><h1>${escape(title)}</h1><p>${escape(message)}</p></body></html>`;
}
