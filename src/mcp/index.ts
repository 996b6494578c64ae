export { McpEndpoint, type McpEndpointOptions } from "./transport.ts";
export { createMcpServer, ToolTable, type McpServerOptions } from "./server.ts";
export { channelTools } from "./tools/channels.ts";
export { defineTool, jsonResult, type ToolDef, type ToolCall } from "./tool.ts";
export { TranscriptDownloads } from "./transcript-download.ts";
export { createToolServer, serveHttp, serveStdio, type HttpToolServer, type ToolServerInfo } from "./tool-server.ts";
