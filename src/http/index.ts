export { createApp, type App, type AppDeps } from "./app.ts";
export { listen, type ListenConfig } from "./listen.ts";
export { askAdmin, serveAdmin, type AdminAnswer, type AdminCommand, type AdminHandlers } from "./admin.ts";
