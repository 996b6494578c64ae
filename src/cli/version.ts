import { VERSION } from "../version.ts";

export async function run(): Promise<number> {
  process.stdout.write(`parley ${VERSION} (bun ${Bun.version})\n`);
  return 0;
}
