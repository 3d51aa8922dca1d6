/**
 * The wire protocol of docs/protocol.md#commands, on bytes only: what the server, the client
 * and the tests all import. Each concept has its own file:
 *
 * - `errors.ts`: error codes and `ProtocolError`;
 * - `framing.ts`: bytes → lines and payload (`FrameBuffer`), bounded;
 * - `request.ts`: decoding a line, the tokenizer, `Request`;
 * - `reply.ts`: the three reply shapes and their encoding;
 * - `reply_reader.ts`: reading replies back (the client's side);
 * - `proxy_header.ts`: the PROXY protocol header a load balancer sends first (the server's door).
 */
export { type ErrorCode, ProtocolError } from "./errors.ts";
export { FrameBuffer, type FramePool, INITIAL_BUFFER_BYTES, lineTooLong } from "./framing.ts";
export {
  commandWordOf,
  decodeLine,
  INTEGER_WORD,
  isBlank,
  keyword,
  quoteWord,
  Request,
  scanWord,
  scanWords,
  tokenize,
  type Word,
} from "./request.ts";
export {
  data,
  dataHeader,
  dataLines,
  DataLinesBuilder,
  encodeReply,
  err,
  errorReply,
  type LineReply,
  ok,
  type Reply,
  replyLine,
  type StreamReply,
} from "./reply.ts";
export {
  ConnectionClosedError,
  type DataHeader,
  parseDataHeader,
  type ParsedReply,
  parseReplyLine,
  ReplyReader,
} from "./reply_reader.ts";
export {
  parseProxyHeader,
  PROXY_MAX_HEADER_BYTES,
  type ProxyHeaderResult,
  type ProxySource,
} from "./proxy_header.ts";
