// The one place errors become responses: anything thrown (an IdpError, a Fastify or oidc-provider
// error, a storage outage, a bug) is classified into an IdpError and rendered as a JSON body
// `{ error, error_description }` or as the branded page in the visitor's language. 4xx answers say
// what was wrong; 5xx answers say nothing internal.
import type { Socket } from "node:net";
import { STATUS_CODES } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { KoaContextWithOIDC } from "oidc-provider";
import { errors as oidcErrors } from "oidc-provider";
import { IdpError, idpErrors } from "../errors.ts";
import { isDatabaseUnavailable } from "../db/availability.ts";
import { formatMessage, translator, SOURCE_LOCALE } from "../pages/i18n.ts";
import type { View, Views } from "../pages/layout.ts";
import { errorPage } from "../pages/error-page.ts";
import { contentSecurityPolicy } from "./security-headers.ts";

export type ErrorFormat = "html" | "json";

export type RenderedError = { status: number; headers: Record<string, string>; contentType: string; body: string | Record<string, string> };

const PAGE_PATHS = ["/interaction", "/reset", "/verify-email", "/email-link", "/sign-up", "/invite", "/account", "/admin"];
// Under a page path, but JSON: the admin API.
const API_PATHS = ["/admin/api"];

const under = (path: string, prefixes: string[]) => prefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));

/** Paths whose errors are pages: sign-in, sign-up, invitations, password reset, email verification, mailed links, the account page and the admin console (and their sign-in, http/idp-session.ts). Everything else is an API and answers JSON. */
export function wantsPage(url: string): boolean {
  const path = url.split(/[?#]/, 1)[0]!.toLowerCase();
  return under(path, PAGE_PATHS) && !under(path, API_PATHS);
}

/** Whatever was thrown, as the IdpError it is answered with. */
export function classify(error: unknown): IdpError {
  if (error instanceof IdpError) return error;
  if (isDatabaseUnavailable(error)) return idpErrors.unavailable(error);
  if (error instanceof oidcErrors.SessionNotFound) return idpErrors.interactionExpired(error.error_description);
  if (error instanceof oidcErrors.OIDCProviderError) return fromOAuth(error.status, error.error, error.error_description);
  // Fastify's errors (validation, CSRF, body parsing) and http-errors carry a status and a message.
  const candidate = error as { status?: unknown; statusCode?: unknown; code?: unknown; validation?: unknown; message?: unknown } | null;
  if (typeof candidate?.code === "string" && candidate.code.startsWith("FST_CSRF")) return idpErrors.formExpired(String(candidate.message));
  const status = Number(candidate?.statusCode ?? candidate?.status);
  if (candidate?.validation) return idpErrors.invalidRequest(String(candidate.message));
  if (status >= 400 && status < 500) {
    return new IdpError({
      status,
      code: status === 404 ? "not_found" : "invalid_request",
      title: status === 404 ? "error.notFound.title" : "error.invalidRequest.title",
      message: { id: status === 404 ? "error.notFound.message" : "error.invalidRequest.message" },
      description: typeof candidate?.message === "string" ? candidate.message : undefined,
    });
  }
  return idpErrors.server(error);
}

/** OAuth errors with a page of their own; every other one is shown as an invalid request. */
const OAUTH_PAGES: Record<string, "unknownClient" | "badRedirect"> = { invalid_client: "unknownClient", invalid_redirect_uri: "badRedirect" };

/** An OAuth error answer (oidc-provider's own, or one we raise) as an IdpError. */
export function fromOAuth(status: number, code: string, description?: string): IdpError {
  if (status >= 500) return idpErrors.server(new Error(`${code}: ${description ?? ""}`));
  const page = OAUTH_PAGES[code] ?? "invalidRequest";
  return new IdpError({ status, code, title: `error.${page}.title`, message: { id: `error.${page}.message` }, description });
}

function errorHeaders(error: IdpError): Record<string, string> {
  const headers: Record<string, string> = { ...error.headers, "cache-control": "no-store" };
  if (error.retryAfterSeconds !== undefined) headers["retry-after"] = String(error.retryAfterSeconds);
  return headers;
}

/** An error as the JSON an API answers with: its code and an English description (nothing internal for a 5xx). */
export function errorJson(error: IdpError): RenderedError {
  const english = translator(SOURCE_LOCALE);
  const hidden = error.status >= 500 && error.status !== 503;
  const description = hidden ? english("error.server.message") : (error.description ?? formatMessage(english, error.publicMessage));
  return { status: error.status, headers: errorHeaders(error), contentType: "application/json; charset=utf-8", body: { error: error.code, error_description: description } };
}

/** An error as the page a person sees, in the view's language and brand. */
export function errorHtml(error: IdpError, view: View): RenderedError {
  const message = formatMessage(view.t, error.publicMessage);
  const description = error.status >= 500 ? undefined : error.description;
  const page = errorPage(view, { title: view.t(error.title), message, code: error.code, description });
  return { status: error.status, headers: errorHeaders(error), contentType: "text/html; charset=utf-8", body: page };
}

export function renderError(error: IdpError, format: ErrorFormat, view: View): RenderedError {
  return format === "html" ? errorHtml(error, view) : errorJson(error);
}

export type ErrorResponses = {
  /** Fastify's error handler (and the not-found handler's body). */
  send(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply;
  /** The same, on a Koa context of oidc-provider. */
  setOnKoa(ctx: KoaContextWithOIDC, error: unknown, format: ErrorFormat): void;
  /** Whether this context's answer already came from setOnKoa. */
  renderedOnKoa(ctx: KoaContextWithOIDC): boolean;
};

export function createErrorResponses(views: Views): ErrorResponses {
  // A page's language as the page chose it: a ui_locales the request carries (the reset pages keep
  // it in their links and forms), then Accept-Language.
  const viewOfRequest = (request: FastifyRequest) =>
    views.forRequest({
      uiLocales: (request.query as Record<string, unknown> | undefined)?.ui_locales ?? (request.body as Record<string, unknown> | undefined)?.ui_locales,
      acceptLanguage: request.headers["accept-language"],
    });
  const viewOfKoa = (ctx: KoaContextWithOIDC) =>
    views.forRequest({ uiLocales: (ctx.oidc?.params as Record<string, unknown> | undefined)?.ui_locales, acceptLanguage: ctx.get("accept-language") });
  return {
    send(request, reply, thrown) {
      const error = classify(thrown);
      if (error.status >= 500 && error.status !== 503) request.log.error({ err: thrown }, "request failed");
      const rendered = renderError(error, wantsPage(request.url) ? "html" : "json", viewOfRequest(request));
      return reply.code(rendered.status).headers(rendered.headers).type(rendered.contentType).send(rendered.body);
    },
    setOnKoa(ctx, thrown, format) {
      const rendered = renderError(classify(thrown), format, viewOfKoa(ctx));
      ctx.status = rendered.status;
      for (const [name, value] of Object.entries(rendered.headers)) ctx.set(name, value);
      ctx.type = rendered.contentType;
      ctx.body = rendered.body;
      ctx.state.errorRendered = true;
    },
    renderedOnKoa: (ctx) => ctx.state.errorRendered === true,
  };
}

/**
 * Fastify's clientErrorHandler: bytes Node's HTTP parser cannot read never become a request, so
 * the answer is written to the socket here, still as the renderer's JSON with the security headers.
 */
export function answerUnparsableRequest(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const [status, description] =
    error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "the request took too long to arrive"]
      : error.code === "HPE_HEADER_OVERFLOW"
        ? [431, "the request's headers are too large"]
        : [400, "the request could not be parsed as HTTP"];
  const rendered = new IdpError({ status, code: "invalid_request", title: "error.invalidRequest.title", message: { id: "error.invalidRequest.message" }, description });
  const body = JSON.stringify(errorJson(rendered).body);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
    "Content-Type: application/json; charset=utf-8",
    `Content-Length: ${Buffer.byteLength(body)}`,
    `Content-Security-Policy: ${contentSecurityPolicy()}`,
    "X-Content-Type-Options: nosniff",
    "Cache-Control: no-store",
    "Connection: close",
  ];
  if (socket.writable) socket.write(`${head.join("\r\n")}\r\n\r\n${body}`);
  socket.destroy(error);
}
