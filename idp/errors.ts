// The one error type of the IdP: an error code (the OAuth code where one applies), an HTTP status,
// a public message in every language, and a private detail for the log. Thrown anywhere; turned
// into a JSON body or a page in one place (http/error-responses.ts).
import type { Message, MessageId } from "./pages/i18n.ts";
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from "./db/availability.ts";

export type IdpErrorInit = {
  status: number;
  /** `error` of a JSON answer: an OAuth error code where one applies. */
  code: string;
  /** The page's heading. */
  title: MessageId;
  /** What the person is told, in their language. */
  message: Message;
  /** A precise English description for JSON's error_description (a validation message, say); the message's English text otherwise. */
  description?: string;
  /** For the log only; never sent. */
  detail?: string;
  retryAfterSeconds?: number;
  headers?: Record<string, string>;
  cause?: unknown;
};

export class IdpError extends Error {
  override name = "IdpError";
  readonly status: number;
  readonly code: string;
  readonly title: MessageId;
  readonly publicMessage: Message;
  readonly description: string | undefined;
  readonly detail: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly headers: Record<string, string>;

  constructor(init: IdpErrorInit) {
    super(init.detail ?? init.description ?? `${init.code}: ${init.message.id}`, { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.title = init.title;
    this.publicMessage = init.message;
    this.description = init.description;
    this.detail = init.detail;
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.headers = init.headers ?? {};
  }
}

/** The errors more than one module raises. */
export const idpErrors = {
  invalidRequest: (description?: string, detail?: string) =>
    new IdpError({ status: 400, code: "invalid_request", title: "error.invalidRequest.title", message: { id: "error.invalidRequest.message" }, description, detail }),
  /** A well-formed host this IdP does not serve (ALLOWED_HOSTS). */
  misdirected: (description: string, detail?: string) =>
    new IdpError({ status: 421, code: "misdirected_request", title: "error.badHost.title", message: { id: "error.badHost.message" }, description, detail }),
  notFound: () => new IdpError({ status: 404, code: "not_found", title: "error.notFound.title", message: { id: "error.notFound.message" }, description: "no such endpoint" }),
  /** The interaction (or the session it belonged to) is gone: signed out elsewhere, or too old. */
  interactionExpired: (detail?: string) =>
    new IdpError({ status: 400, code: "interaction_expired", title: "error.expired.title", message: { id: "error.expired.message" }, detail }),
  /** A sign-out page superseded by a newer one while the person is still signed in. */
  signOutExpired: () =>
    new IdpError({ status: 400, code: "invalid_request", title: "error.signOutExpired.title", message: { id: "error.signOutExpired.message" } }),
  formExpired: (detail?: string) =>
    new IdpError({ status: 403, code: "invalid_request", title: "error.formExpired.title", message: { id: "error.formExpired.message" }, detail }),
  tooManyRequests: (waitSeconds: number) =>
    new IdpError({
      status: 429,
      code: "temporarily_unavailable",
      title: "error.tooManyRequests.title",
      message: { id: "error.tooManyRequests.message", values: { wait: waitSeconds } },
      description: `too many requests; retry after ${waitSeconds} seconds`,
      retryAfterSeconds: waitSeconds,
    }),
  // Generic on purpose: the same answer whether PostgreSQL or Redis is the one away.
  unavailable: (cause?: unknown) =>
    new IdpError({
      status: 503,
      code: "temporarily_unavailable",
      title: "error.unavailable.title",
      message: { id: "error.unavailable.message" },
      retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
      cause,
    }),
  server: (cause?: unknown) =>
    new IdpError({ status: 500, code: "server_error", title: "error.server.title", message: { id: "error.server.message" }, cause }),
  unauthorized: (description: string) =>
    new IdpError({
      status: 401,
      code: "unauthorized",
      title: "error.invalidRequest.title",
      message: { id: "error.invalidRequest.message" },
      description,
      headers: { "WWW-Authenticate": "Bearer" },
    }),
};
