/** A real OAuth 2.1 sign-in over HTTP, as a headless client does it: DCR → authorize (PKCE S256) → token. */
export interface SignedIn {
  client_id: string;
  client_secret?: string;
  access_token: string;
  refresh_token: string;
  expires_in: number;
  scope: string;
  redirect_uri: string;
}

export const REDIRECT_URI = "http://localhost:53682/callback";

export function pkcePair() {
  const verifier = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
  const challenge = new Bun.CryptoHasher("sha256").update(verifier).digest("base64url");
  return { verifier, challenge };
}

export async function registerClient(baseUrl: string, metadata: Record<string, unknown> = {}) {
  const res = await fetch(`${baseUrl}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ redirect_uris: [REDIRECT_URI], client_name: "parley-test", token_endpoint_auth_method: "none", ...metadata }),
  });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { client_id: string; client_secret?: string; redirect_uris: string[] };
}

/**
 * A browser's cookie store for one server: what makes "the same user signs in again" (the sign-in
 * binds the identity to a first-party cookie; a flow without it is a new identity).
 */
export class CookieJar {
  private readonly cookies = new Map<string, string>();
  /** Every Set-Cookie seen, raw (for attribute checks). */
  readonly seen: string[] = [];

  header(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ") } : {};
  }

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      this.seen.push(line);
      const [pair] = line.split(";");
      const eq = pair!.indexOf("=");
      this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  }

  get size(): number {
    return this.cookies.size;
  }
}

/** Follows /authorize without a browser; returns the redirect Location (code or error). With a jar, sends and keeps its cookies. */
export async function authorize(baseUrl: string, params: Record<string, string>, jar?: CookieJar): Promise<URL> {
  const url = new URL(`${baseUrl}/authorize`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const res = await fetch(url, { redirect: "manual", headers: jar?.header() ?? {} });
  jar?.store(res);
  const location = res.headers.get("location");
  if (res.status !== 302 || !location) throw new Error(`authorize did not redirect: ${res.status} ${await res.text()}`);
  return new URL(location);
}

export async function tokenRequest(baseUrl: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(`${baseUrl}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(form),
  });
}

/** Registers a new client (= a new identity) and signs it in. */
export async function signIn(baseUrl: string, options: { scope?: string } = {}): Promise<SignedIn> {
  const client = await registerClient(baseUrl);
  return { ...client, ...(await signInClient(baseUrl, client.client_id, options)) };
}

/** Signs an already-registered public client in (authorize → token), in the browser whose cookies `jar` holds, if any. */
export async function signInClient(baseUrl: string, clientId: string, options: { scope?: string; jar?: CookieJar } = {}): Promise<SignedIn> {
  const client = { client_id: clientId };
  const { verifier, challenge } = pkcePair();
  const state = crypto.randomUUID();
  const back = await authorize(baseUrl, {
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: REDIRECT_URI,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
    resource: `${baseUrl}/mcp`,
    ...(options.scope ? { scope: options.scope } : {}),
  }, options.jar);
  const code = back.searchParams.get("code");
  if (!code || back.searchParams.get("state") !== state) throw new Error(`authorize failed: ${back}`);
  const res = await tokenRequest(baseUrl, {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    client_id: client.client_id,
    redirect_uri: REDIRECT_URI,
    resource: `${baseUrl}/mcp`,
  });
  if (res.status !== 200) throw new Error(`token failed: ${res.status} ${await res.text()}`);
  return { ...client, ...((await res.json()) as Omit<SignedIn, "client_id" | "redirect_uri">), redirect_uri: REDIRECT_URI };
}
