export {
  acceptsMountPrefix,
  createFunctionApp,
  type FunctionAppOptions,
  mountedAt,
  type MountedEnv,
} from './app.ts';
export type { AppEnv } from './env.ts';
export {
  catchNonErrorThrows,
  methodNotAllowedProblem,
  NonErrorThrown,
  notFoundProblem,
  problemErrorHandler,
} from './errors.ts';
export {
  type ErrorStatusCode,
  type InputIssue,
  invalidInput,
  type ProblemDetails,
  ProblemError,
  type ProblemInit,
  retryAfterSeconds,
  statusText,
} from './problem.ts';
export { declaredLength, requestBodyLimit, type RequestBodyLimitOptions } from './body-limit.ts';
export { headerLimits, MAX_REQUEST_HEADER_BYTES, MAX_REQUEST_HEADERS } from './header-limits.ts';
export {
  type Admission,
  admissionGate,
  type AdmissionGateOptions,
  type AdmissionOptions,
  type AdmissionStats,
  createAdmission,
  SHED_RETRY_AFTER_SECONDS,
} from './admission.ts';
export { requestLog, type RequestLogOptions } from './request-log.ts';
export { requestEnvelope } from './envelope.ts';
export { settleUnreadBody } from './unread-body.ts';
export { API_SECURITY_HEADERS, setApiSecurityHeaders } from './security-headers.ts';
export { clientAddress } from './client-address.ts';
export { type Precondition, precondition, staleVersion, versionTag } from './precondition.ts';
export { PLAIN_TEXT_MESSAGE, plainText, printable } from './text.ts';
