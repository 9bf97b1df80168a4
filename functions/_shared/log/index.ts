export {
  createLogger,
  isLogLevel,
  LOG_LEVELS,
  type LogFields,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type LogSink,
} from './logger.ts';
export { isSensitiveKey, redact, REDACTED, redactString } from './redact.ts';
