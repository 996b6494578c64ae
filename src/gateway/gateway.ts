import type { CallToolResult, GetPromptResult, Prompt, ReadResourceResult, Resource, ResourceTemplate, Tool } from "@modelcontextprotocol/sdk/types.js";
import type { UpstreamConfig } from "../config/index.ts";
import { AppError } from "../errors.ts";
import { grantCovers, grantServer } from "../identity.ts";
import { log } from "../lib/log.ts";
import { exposeTools, type ExposedTool, type ToolSet } from "./catalog.ts";
import { ExtrasCatalog } from "./extras-catalog.ts";
import { audited, NO_HOOKS, type GatewayHooks } from "./hooks.ts";
import { upstreamStatus, type UpstreamStatus } from "./status.ts";
import { planReload, type ReloadSummary } from "./reload.ts";
import { selfCommand } from "./upstream-process.ts";
import { Upstream, type CallOptions } from "./upstream.ts";

const NO_EXTRAS_PRINT = JSON.stringify({ resources: [], templates: [], prompts: [] });

export interface GatewayOptions {
  /** The server's environment (header `${…}`, stdio `env` names, PATH). */
  env: Readonly<Record<string, string | undefined>>;
  version: string;
  /** Names no upstream tool may take: the built-in tools. */
  reserved?: Iterable<string>;
  hooks?: GatewayHooks;
  /** This executable as a command; default: selfCommand(). */
  self?: readonly string[];
}

/** Who calls: the subject (for the audit) and what its grant names. */
export interface GatewayCaller {
  subject: string;
  grant: readonly string[];
}


interface Exposure {
  upstream: Upstream;
  set: ToolSet;
  /** What its callers see (tools; resources and prompts), to tell whether a change is one they must hear of. */
  fingerprint: string;
  extras: string;
}

/**
 * The gateway: the configured upstream MCP servers, kept up (upstream.ts), their tools exposed as
 * `SERVER_TOOL` (catalog.ts) to callers whose grant names the server or the tool, and calls routed
 * to them. Grants are checked when tools are listed and again at every call. An upstream that is
 * not up hides its own tools only; a call to it fails at once with UPSTREAM_UNAVAILABLE.
 */
export class Gateway {
  private readonly upstreams = new Map<string, Upstream>();
  private readonly exposures = new Map<string, Exposure>();
  private index = new Map<string, { upstream: Upstream; tool: ExposedTool }>();
  private extras = new ExtrasCatalog([]);
  /** tools/list answers per grant, until the next change. */
  private readonly lists = new Map<string, Tool[]>();
  private readonly listeners = new Set<(server: string) => void>();
  private readonly reserved: ReadonlySet<string>;
  private readonly hooks: GatewayHooks;
  /** The skipped and shortened names last logged per upstream: logged again only when they change. */
  private readonly loggedNames = new Map<string, string>();
  private readonly make: (config: UpstreamConfig) => Upstream;
  /** Upstreams a reload took out, until their process group is gone: a successor of the same name starts after. */
  private readonly leaving = new Map<string, Promise<void>>();
  private started = false;
  private stopped = false;

  /** Throws INVALID_REQUEST when a header names an environment variable that is not set. */
  constructor(configs: readonly UpstreamConfig[], options: GatewayOptions) {
    this.reserved = new Set(options.reserved ?? []);
    this.hooks = options.hooks ?? NO_HOOKS;
    const self = options.self ?? selfCommand();
    this.make = (config) =>
      new Upstream({
        config,
        env: options.env,
        self,
        version: options.version,
        review: (server, tools) => this.hooks.reviewTools(server, tools),
        onChange: (u) => this.changed(u),
      });
    for (const config of configs) this.upstreams.set(config.name, this.make(config));
  }

  /** The configured upstream names. */
  get servers(): string[] {
    return [...this.upstreams.keys()];
  }

  start(): void {
    this.started = true;
    for (const upstream of this.upstreams.values()) upstream.start();
  }

  /** Stops every upstream (their process groups killed), in parallel. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...[...this.upstreams.values()].map((u) => u.stop()), ...this.leaving.values()]);
  }

  /**
   * A config reload's upstreams. One whose config is unchanged keeps running untouched; a removed
   * one is stopped (its process group killed; a call in flight to it ends with UPSTREAM_UNAVAILABLE)
   * and its tools go at once; a changed one is stopped, then started with its new config; a new
   * one starts. Listeners hear of each server whose tools its callers saw change (a new one's when
   * it comes up). Throws at once, changing nothing, when a new config names a header variable that
   * is not set; otherwise everything but the stopping and starting is done when it returns. The
   * promise resolves once the old processes are gone and the new ones started (not yet up).
   */
  reconfigure(configs: readonly UpstreamConfig[]): Promise<ReloadSummary> {
    const plan = planReload(new Map([...this.upstreams].map(([name, u]) => [name, u.config])), configs);
    const byName = new Map(configs.map((c) => [c.name, c]));
    const fresh = [...plan.added, ...plan.restarted].map((name) => this.make(byName.get(name)!));
    const retired = [...plan.removed.map((name) => this.retire(name, "removed")), ...plan.restarted.map((name) => this.retire(name, "changed"))];
    // In the config's order, as at start.
    const order = new Map(configs.map((c, i) => [c.name, i]));
    for (const u of fresh) this.upstreams.set(u.name, u);
    const sorted = [...this.upstreams].sort(([a], [b]) => order.get(a)! - order.get(b)!);
    this.upstreams.clear();
    for (const [name, u] of sorted) this.upstreams.set(name, u);
    return Promise.all([...retired, ...fresh.map((u) => this.startAfterPredecessor(u))]).then(() => plan);
  }

  /** Takes an upstream out: its tools go now (callers told), its process group is killed in the background. */
  private retire(name: string, why: "removed" | "changed"): Promise<void> {
    const upstream = this.upstreams.get(name)!;
    this.upstreams.delete(name);
    const before = this.exposures.get(name);
    this.exposures.delete(name);
    this.loggedNames.delete(name);
    const index = new Map(this.index);
    for (const [tool, hit] of index) if (hit.upstream === upstream) index.delete(tool);
    this.index = index;
    this.lists.clear();
    this.extras = new ExtrasCatalog(this.upUpstreams());
    const previous = this.leaving.get(name) ?? Promise.resolve();
    const gone = previous.then(() => upstream.stop());
    this.leaving.set(name, gone);
    const forget = () => void (this.leaving.get(name) === gone && this.leaving.delete(name));
    gone.then(forget, forget);
    log.info(why === "removed" ? "upstream removed by a reload" : "upstream config changed: restarting it", { server: name });
    if (before && (before.fingerprint !== "[]" || before.extras !== NO_EXTRAS_PRINT)) for (const listener of this.listeners) listener(name);
    return gone;
  }

  /** A reload's new or changed upstream starts once the one it replaces has stopped (a port, a database file it held). */
  private async startAfterPredecessor(upstream: Upstream): Promise<void> {
    await this.leaving.get(upstream.name);
    if (this.started && !this.stopped && this.upstreams.get(upstream.name) === upstream) upstream.start();
  }

  /** `listener(server)` after the tools `server` shows its callers change (state, tools, definitions). */
  onChange(listener: (server: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether `name` is for the gateway: a tool name of a configured upstream (`battle_…`). */
  serves(name: string): boolean {
    return this.upstreams.has(grantServer(name));
  }

  /** The upstream tools a grant reaches, from upstreams that are up, held ones left out. */
  listTools(grant: readonly string[]): Tool[] {
    const key = grant.join(" ");
    let list = this.lists.get(key);
    if (!list) {
      list = [];
      for (const [server, exposure] of this.exposures) {
        for (const tool of exposure.set.tools) if (!tool.held && grantCovers(grant, server, tool.name)) list.push(tool.definition);
      }
      // Bounded by the distinct grants in use; a change empties it anyway.
      if (this.lists.size >= 1024) this.lists.clear();
      this.lists.set(key, list);
    }
    return list;
  }

  /**
   * Calls `name` (a name `serves` said yes to) for `caller`. FORBIDDEN outside the grant (whether or
   * not the tool exists); UPSTREAM_UNAVAILABLE when the upstream is not up, does not answer in
   * time or goes away; the upstream's own result otherwise (a tool error of its own included).
   * Every call is handed to hooks.recordCall, whatever its outcome.
   */
  async call(caller: GatewayCaller, name: string, args: Record<string, unknown> | undefined, options: CallOptions = {}): Promise<CallToolResult> {
    const server = grantServer(name);
    const hit = this.index.get(name);
    // The audit names the upstream's own tool, refused calls included (what was asked for).
    const upstreamTool = hit?.tool.upstreamName ?? "";
    return audited(this.hooks, caller, { server, tool: name, upstreamTool, method: "tools/call" }, args, async () => {
      if (!grantCovers(caller.grant, server, name)) {
        throw new AppError("FORBIDDEN", `Tool "${name}" is outside your grant (${caller.grant.join(", ")}); ask the operator for a token that names "${server}" or "${name}"`);
      }
      const upstream = this.configured(server);
      if (!hit) {
        if (upstream.state !== "up") throw upstream.unavailable();
        throw new AppError("INVALID_REQUEST", `Upstream "${server}" has no tool "${name}"`);
      }
      if (hit.tool.held) throw new AppError("UPSTREAM_UNAVAILABLE", `Tool "${name}" is held back: ${hit.tool.held}`);
      return upstream.call(upstreamTool, args, { ...options, caller: caller.subject });
    });
  }

  /** Upstream resources a grant reaches (it must name the whole server), from upstreams that are up. */
  listResources(grant: readonly string[]): Resource[] {
    return this.extras.listResources(grant);
  }

  listResourceTemplates(grant: readonly string[]): ResourceTemplate[] {
    return this.extras.listTemplates(grant);
  }

  /** Upstream prompts (`SERVER_PROMPT`) a grant reaches: it names the server or the prompt. */
  listPrompts(grant: readonly string[]): Prompt[] {
    return this.extras.listPrompts(grant);
  }

  /** Whether a resource URI is an upstream's (listed, or matching one of its templates). */
  ownsResource(uri: string): boolean {
    return this.extras.serverOfUri(uri) !== undefined;
  }

  /** Whether a prompt name is an upstream's (`SERVER_…` of a configured upstream). */
  servesPrompt(name: string): boolean {
    return this.upstreams.has(grantServer(name));
  }

  /** resources/read of an upstream's resource (ownsResource said yes), for `caller`; audited like a call. */
  async readResource(caller: GatewayCaller, uri: string, options: CallOptions = {}): Promise<ReadResourceResult> {
    const server = this.extras.serverOfUri(uri, caller.grant) ?? "";
    return audited(this.hooks, caller, { server, tool: uri, upstreamTool: uri, method: "resources/read" }, undefined, async () => {
      if (!caller.grant.includes(server)) throw new AppError("FORBIDDEN", `Resource ${uri} is upstream "${server}"'s, outside your grant (${caller.grant.join(", ")})`);
      return this.configured(server).readResource(uri, { ...options, caller: caller.subject });
    });
  }

  /** prompts/get of `SERVER_PROMPT` for `caller`; audited like a call. */
  async getPrompt(caller: GatewayCaller, name: string, args: Record<string, string> | undefined, options: CallOptions = {}): Promise<GetPromptResult> {
    const server = grantServer(name);
    const hit = this.extras.prompt(name);
    return audited(this.hooks, caller, { server, tool: name, upstreamTool: hit?.upstreamName ?? "", method: "prompts/get" }, args, async () => {
      if (!grantCovers(caller.grant, server, name)) throw new AppError("FORBIDDEN", `Prompt "${name}" is outside your grant (${caller.grant.join(", ")})`);
      const upstream = this.configured(server);
      if (!hit) {
        if (upstream.state !== "up") throw upstream.unavailable();
        throw new AppError("INVALID_REQUEST", `Upstream "${server}" has no prompt "${name}"`);
      }
      return upstream.getPrompt(hit.upstreamName, args, { ...options, caller: caller.subject });
    });
  }

  /** The upstream of that name, or UPSTREAM_UNAVAILABLE when a reload removed it since the caller listed. */
  private configured(server: string): Upstream {
    const upstream = this.upstreams.get(server);
    if (!upstream) throw new AppError("UPSTREAM_UNAVAILABLE", `Upstream "${server}" is no longer configured`);
    return upstream;
  }

  /** Upstreams that are up, in the config's order (what the extras catalog is built from). */
  private upUpstreams(): Upstream[] {
    return [...this.upstreams.values()].filter((u) => u.state === "up");
  }


  /** Checks an upstream's tools against their pins again (after an approval): what was held and is approved now is listed. */
  async review(server: string): Promise<void> {
    await this.upstreams.get(server)?.review();
  }

  /** Each upstream's state for `parley status`. */
  status(): UpstreamStatus[] {
    return [...this.upstreams.values()].map((u) => upstreamStatus(u, this.exposures.get(u.name)?.set));
  }

  /** Whether an upstream is down, or up with its tools gone (`/healthz` says "degraded"). */
  degraded(): boolean {
    for (const u of this.upstreams.values()) if (u.state === "down" || (u.state === "up" && u.emptied)) return true;
    return false;
  }

  /** The exposed names of an upstream's tools while it is up (null otherwise): `token issue` checks single-tool grants against them. */
  toolNames(server: string): string[] | null {
    const u = this.upstreams.get(server);
    if (!u || u.state !== "up") return null;
    return this.exposures.get(server)?.set.tools.map((t) => t.name) ?? [];
  }

  private changed(upstream: Upstream): void {
    // One a reload took out, stopping: it no longer speaks for its name.
    if (this.upstreams.get(upstream.name) !== upstream) return;
    const before = this.exposures.get(upstream.name);
    const set = upstream.state === "up" ? exposeTools(upstream.name, upstream.tools, upstream.held, this.reserved) : { tools: [], skipped: [], shortened: [] };
    const fingerprint = JSON.stringify(set.tools.filter((t) => !t.held).map((t) => t.definition));
    const extras = JSON.stringify(upstream.extras);
    if (upstream.state === "up") this.logNames(upstream.name, set);
    this.exposures.set(upstream.name, { upstream, set, fingerprint, extras });
    if (before?.extras !== extras) this.extras = new ExtrasCatalog(this.upUpstreams());
    const index = new Map(this.index);
    for (const [name, hit] of index) if (hit.upstream === upstream) index.delete(name);
    for (const tool of set.tools) index.set(tool.name, { upstream, tool });
    this.index = index;
    this.lists.clear();
    if (before?.fingerprint === fingerprint && before.extras === extras) return;
    for (const listener of this.listeners) listener(upstream.name);
  }

  /** Skipped and shortened names, when they first appear and each time they change. */
  private logNames(server: string, set: ToolSet): void {
    const names = JSON.stringify([set.skipped, set.shortened]);
    if (this.loggedNames.get(server) === names) return;
    this.loggedNames.set(server, names);
    for (const s of set.skipped) log.warn("upstream tool skipped", { server, tool: s.tool, reason: s.reason });
    for (const s of set.shortened) log.info("upstream tool renamed", { server, tool: s.tool, name: s.name });
  }
}
