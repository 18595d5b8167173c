// The browser binding cookie: a random secret that ties a one-time code (and its link) to the
// browser that asked for it. Signed, HttpOnly and SameSite=Lax, so a link opened from a mail (a
// top-level GET) carries it and no other site's form does.
import type { FastifyReply, FastifyRequest } from "fastify";
import { SECRET_PATTERN } from "../accounts/code-secrets.ts";

const COOKIE = "idp_browser";
/** Long enough to outlive every code and approval; renewed whenever a code is asked for. */
const MAX_AGE_SECONDS = 24 * 3600;
const SECRET = new RegExp(SECRET_PATTERN);

/** This browser's binding secret, if it has a valid one. */
export function browserBinding(request: FastifyRequest): string | undefined {
  const raw = request.cookies[COOKIE];
  if (!raw) return undefined;
  const unsigned = request.unsignCookie(raw);
  return unsigned.valid && unsigned.value && SECRET.test(unsigned.value) ? unsigned.value : undefined;
}

/** This browser's binding secret, made now (and set as a cookie) if it has none. */
export function ensureBrowserBinding(request: FastifyRequest, reply: FastifyReply, newSecret: () => string): string {
  const secret = browserBinding(request) ?? newSecret();
  reply.setCookie(COOKIE, secret, { path: "/", httpOnly: true, sameSite: "lax", secure: "auto", signed: true, maxAge: MAX_AGE_SECONDS });
  return secret;
}
