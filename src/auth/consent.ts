/** The passcode consent page and the error pages of /authorize, with the headers that keep them unframed. */
export interface ConsentView {
  clientName: string;
  redirectHost: string;
  params: URLSearchParams;
  error?: string;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The pages' only stylesheet, allowed by its hash: the CSP needs no 'unsafe-inline'. */
const STYLE =
  "body{font:16px system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}code{background:#eee;padding:0 .2em}" +
  ".err{color:#a00}button{font-size:1rem;padding:.4rem 1rem}input[type=password]{font-size:1rem;width:100%;padding:.3rem}";
const STYLE_HASH = `'sha256-${new Bun.CryptoHasher("sha256").update(STYLE).digest("base64")}'`;

/**
 * Headers for every page /authorize renders. No framing (clickjacking of the Approve button):
 * CSP `frame-ancestors 'none'` and, for older browsers, X-Frame-Options. The form may post only
 * here; browsers also apply form-action to the redirect that follows the POST (CSP3 §6.4.1),
 * so the client's redirect origin is allowed too. No referrer: the page URL carries the request.
 */
export function pageHeaders(redirectUri?: string): Record<string, string> {
  const formAction = redirectUri ? `'self' ${sourceOf(new URL(redirectUri))}` : "'self'";
  return {
    "content-security-policy": `default-src 'none'; style-src ${STYLE_HASH}; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
  };
}

/** A CSP source for a URL's origin; CSP host-source has no IPv6 literals, so [::1] gets its scheme. */
const sourceOf = (url: URL) => (url.hostname.startsWith("[") ? url.protocol : url.origin);

export function consentPage(view: ConsentView): string {
  const hidden = [...view.params]
    .filter(([k]) => k !== "passcode")
    .map(([k, v]) => `<input type="hidden" name="${escape(k)}" value="${escape(v)}">`)
    .join("\n      ");
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Sign in to Parley</title>
<style>${STYLE}</style></head>
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
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title><style>${STYLE}</style></head>
<body><h1>${escape(title)}</h1><p>${escape(message)}</p></body></html>`;
}
