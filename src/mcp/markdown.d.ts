// Bun gives a module imported `with { type: "text" }` as its text (embedded by `bun build --compile`).
declare module "*.md" {
  const text: string;
  export default text;
}
