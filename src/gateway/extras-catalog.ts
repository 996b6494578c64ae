import { UriTemplate } from "@modelcontextprotocol/sdk/shared/uriTemplate.js";
import type { Prompt, Resource, ResourceTemplate } from "@modelcontextprotocol/sdk/types.js";
import { grantCovers } from "../identity.ts";
import { log } from "../lib/log.ts";
import type { UpstreamExtras } from "./listing.ts";
import { exposedName } from "./names.ts";

/** URI schemes of Parley's own resources (`doc://…`, `channel://…/transcript`): no upstream may take them. */
const RESERVED_SCHEMES = ["doc:", "channel:"];

export interface ExposedPrompt {
  server: string;
  /** The upstream's own name for it. */
  upstreamName: string;
  /** As callers see it: named `SERVER_PROMPT`, like tools. */
  prompt: Prompt;
}

/**
 * The resources, resource templates and prompts of the upstreams that are up, as callers see them.
 * Resources keep their URIs (a URI is the upstream's address for the thing, and clients keep and
 * re-read it), so a read is routed by URI: to the upstream listing that exact resource, else to the
 * template whose literal start (the text before its first `{`) the URI begins with: of the
 * caller's granted upstreams first, the longest start first, then in the config's order; the
 * upstream itself checks the rest. Templates are not matched as regular expressions: the SDK's
 * matcher backtracks, and an upstream's `{+a}{+b}…` template held the event loop 1-2 s per read
 * of a caller's URI. A template with no literal start (it would take every URI), or with one of
 * Parley's own schemes, is not routed; a URI two upstreams list goes to the first, one with
 * Parley's own schemes to none (all logged). Prompts are renamed `SERVER_PROMPT`, as tools are. A
 * grant reaches an upstream's resources when it names the whole server, its prompts when it names
 * the server or the prompt (`SERVER_PROMPT`).
 */
export class ExtrasCatalog {
  private readonly resources: { server: string; resource: Resource }[] = [];
  private readonly byUri = new Map<string, string>();
  private readonly templates: { server: string; template: ResourceTemplate; start: string | null }[] = [];
  private readonly prompts = new Map<string, ExposedPrompt>();

  constructor(upstreams: Iterable<{ name: string; extras: UpstreamExtras }>) {
    for (const { name: server, extras } of upstreams) {
      for (const resource of extras.resources) {
        const taken = RESERVED_SCHEMES.some((s) => resource.uri.startsWith(s)) ? "Parley's own" : this.byUri.get(resource.uri);
        if (taken) {
          log.warn("upstream resource skipped: its URI is taken", { server, uri: resource.uri, by: taken });
          continue;
        }
        this.byUri.set(resource.uri, server);
        this.resources.push({ server, resource });
      }
      for (const template of extras.templates) this.templates.push({ server, template, start: literalStart(server, template.uriTemplate) });
      for (const prompt of extras.prompts) {
        const exposed = exposedName(server, prompt.name);
        if ("skipped" in exposed) {
          log.warn("upstream prompt skipped", { server, prompt: prompt.name, reason: exposed.skipped });
          continue;
        }
        this.prompts.set(exposed.name, { server, upstreamName: prompt.name, prompt: { ...prompt, name: exposed.name } });
      }
    }
  }

  listResources(grant: readonly string[]): Resource[] {
    return this.resources.filter((r) => grant.includes(r.server)).map((r) => r.resource);
  }

  listTemplates(grant: readonly string[]): ResourceTemplate[] {
    return this.templates.filter((t) => t.start !== null && grant.includes(t.server)).map((t) => t.template);
  }

  listPrompts(grant: readonly string[]): Prompt[] {
    return [...this.prompts.values()].filter((p) => grantCovers(grant, p.server, p.prompt.name)).map((p) => p.prompt);
  }

  /** The upstream a resource URI belongs to, if any (with a grant: its upstreams' templates first). */
  serverOfUri(uri: string, grant?: readonly string[]): string | undefined {
    if (RESERVED_SCHEMES.some((s) => uri.startsWith(s))) return undefined;
    const listed = this.byUri.get(uri);
    if (listed !== undefined) return listed;
    let best: { server: string; rank: number } | undefined;
    for (const { server, start } of this.templates) {
      if (start === null || !uri.startsWith(start)) continue;
      const rank = (grant?.includes(server) ? 1e9 : 0) + start.length;
      if (!best || rank > best.rank) best = { server, rank };
    }
    return best?.server;
  }

  prompt(name: string): ExposedPrompt | undefined {
    return this.prompts.get(name);
  }
}

/** The text before a template's first expression, or null when it is not to be routed (logged). */
function literalStart(server: string, uriTemplate: string): string | null {
  if (RESERVED_SCHEMES.some((s) => uriTemplate.startsWith(s))) {
    log.warn("upstream resource template skipped: its scheme is Parley's own", { server, uriTemplate });
    return null;
  }
  try {
    new UriTemplate(uriTemplate);
  } catch (err) {
    log.warn("upstream resource template not understood; its URIs are not routed", { server, uriTemplate, err });
    return null;
  }
  const brace = uriTemplate.indexOf("{");
  const start = brace < 0 ? uriTemplate : uriTemplate.slice(0, brace);
  if (start === "") {
    log.warn("upstream resource template not routed: it has no literal start, so it would take every URI", { server, uriTemplate });
    return null;
  }
  return start;
}
