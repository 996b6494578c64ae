/**
 * Bench target (a): bare Bun.serve hello world, with the Bun.serve settings Parley's server uses
 * (see serve-options.ts). Prints `listening on PORT` once ready.
 */
import { benchServeOptions } from "./serve-options.ts";

const server = Bun.serve({
  ...benchServeOptions(),
  fetch: () => new Response("Hello"),
});
process.stdout.write(`listening on ${server.port}\n`);
