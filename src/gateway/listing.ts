import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  ListToolsResultSchema,
  ListPromptsResultSchema,
  ListResourcesResultSchema,
  ListResourceTemplatesResultSchema,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import type { z } from "zod";
import { log } from "../lib/log.ts";

/** An upstream's resources, resource templates and prompts, where it declares them. */
export interface UpstreamExtras {
  resources: readonly Resource[];
  templates: readonly ResourceTemplate[];
  prompts: readonly Prompt[];
}

export const NO_EXTRAS: UpstreamExtras = Object.freeze({ resources: [], templates: [], prompts: [] });

/** Bounds on each listing (a listing that never ends must not fill memory). */
const MAX_ITEMS = 1_000;
const MAX_PAGES = 100;
/**
 * Characters of JSON one listing may take in all, its pages together: each page is bounded by the
 * transport (16 MiB a message), but a hundred of them would be 1.6 GB held, fingerprinted and sent
 * to every session that lists.
 */
export const MAX_LISTING_CHARS = 16 * 1024 * 1024;

/**
 * Lists what the upstream declared in `initialize` besides tools: resources and their templates
 * (capability `resources`), prompts (capability `prompts`). A listing that fails leaves that kind
 * empty and is logged: the upstream's tools still serve.
 */
export async function listExtras(client: Client, server: string, timeout: number): Promise<UpstreamExtras> {
  const caps = client.getServerCapabilities() ?? {};
  const [resources, templates, prompts] = await Promise.all([
    caps.resources ? listAll(client, server, "resources/list", ListResourcesResultSchema, (r) => r.resources, timeout) : [],
    caps.resources ? listAll(client, server, "resources/templates/list", ListResourceTemplatesResultSchema, (r) => r.resourceTemplates, timeout) : [],
    caps.prompts ? listAll(client, server, "prompts/list", ListPromptsResultSchema, (r) => r.prompts, timeout) : [],
  ]);
  return { resources, templates, prompts };
}

/** tools/list, every page (bounded); a failure is the caller's (the upstream is not up without its tools). */
export function listTools(client: Client, server: string, timeout: number): Promise<Tool[]> {
  return pages(client, server, "tools/list", ListToolsResultSchema, (r) => r.tools, timeout);
}

/** A listing that failed leaves its kind empty, logged. */
function listAll<S extends z.ZodType<{ nextCursor?: string }>, T>(...listing: Parameters<typeof pages<S, T>>): Promise<T[]> {
  const [, server, method] = listing;
  return pages(...listing).catch((err) => {
    log.warn("upstream listing failed; that kind is left empty", { server, method, err });
    return [];
  });
}

async function pages<S extends z.ZodType<{ nextCursor?: string }>, T>(
  client: Client,
  server: string,
  method: string,
  schema: S,
  items: (result: z.infer<S>) => T[],
  timeout: number,
): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | undefined;
  let chars = 0;
  for (let page = 0; page < MAX_PAGES && all.length < MAX_ITEMS; page++) {
    const result = await client.request({ method, params: cursor ? { cursor } : {} } as never, schema, { timeout });
    const listed = items(result);
    chars += JSON.stringify(listed).length;
    if (chars > MAX_LISTING_CHARS) throw new Error(`its ${method} passed ${MAX_LISTING_CHARS / 1024 / 1024} MiB of JSON in all, the most the gateway takes`);
    all.push(...listed);
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  if (all.length > MAX_ITEMS) log.warn("upstream lists too many; the rest are ignored", { server, method, max: MAX_ITEMS });
  return all.slice(0, MAX_ITEMS);
}
