export { chainInput, genesisInput, sha256Hex } from "./chain.ts";
export { ed25519Signer, headerPayload, signTranscript, signaturePayload, type TranscriptHeader, type TranscriptSigner } from "./sign.ts";
export { verifyTranscript, type VerifyOptions, type VerifyReport } from "./verify.ts";
export { TranscriptSchema, type Transcript, type TranscriptMessage, type UnsignedTranscript } from "./types.ts";
export { botErrorBody, botFetchBody, botReloadBody, botSender, hookFor, INITIAL_STATE, type FetchRecord, type BotEngine, type BotOutput, type BotProgram, type HookCall, type HookMessage, type HookName, type HookResult } from "./bot-protocol.ts";
export { replayTranscript } from "./replay.ts";
