// Security headers on every response, Fastify's routes and oidc-provider's endpoints alike: a CSP
// with no script at all, no framing, no referrer, no sniffing, no-store unless a response opts into
// caching, COOP, and HSTS when the browser reaches the IdP over https.
import fastifyHelmet from "@fastify/helmet";
import helmet from "helmet";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type Provider from "oidc-provider";
import type { KoaContextWithOIDC } from "oidc-provider";

export const HSTS = "max-age=31536000; includeSubDomains";

/**
 * The policy of every response. Our pages are plain HTML forms and one stylesheet, nothing more;
 * only a sign-up page with proof of work on runs a script, its own, from the IdP (setPagePolicy).
 */
const DIRECTIVES = {
  "default-src": ["'none'"],
  "script-src": ["'none'"],
  "style-src": ["'self'"],
  "img-src": ["'self'", "data:"],
  "form-action": ["'self'"],
  "frame-ancestors": ["'none'"],
  "base-uri": ["'none'"],
} as const;

/**
 * The Content-Security-Policy header value. `formTargets` are URIs a form on the page may end up
 * at: Chromium and Safari check form-action against every redirect that follows a form post, and
 * the sign-in, consent and sign-out forms end in a redirect to the client (w3c/webappsec-csp#8).
 * `scriptHashes` are the 'sha256-…' sources oidc-provider adds for its one auto-submitting form.
 */
export function contentSecurityPolicy(options: PolicyOptions = {}): string {
  const formAction = new Set<string>(DIRECTIVES["form-action"]);
  for (const target of options.formTargets ?? []) {
    const source = formActionSource(target);
    if (source) formAction.add(source);
  }
  const directives: Record<string, readonly string[]> = {
    ...DIRECTIVES,
    "script-src": options.scriptHashes?.length ? options.scriptHashes : options.proofOfWorkWidget || options.passkeyScript ? ["'self'"] : DIRECTIVES["script-src"],
    // The widget's worker and its challenge fetch come from the IdP too (default-src 'none' forbids both).
    ...(options.proofOfWorkWidget && { "worker-src": ["'self'"], "connect-src": ["'self'"] }),
    // The passkey script fetches its options from the IdP.
    ...(options.passkeyScript && { "connect-src": ["'self'"] }),
    "form-action": [...formAction],
    "img-src": [...new Set([...DIRECTIVES["img-src"], ...imageSources(options.imageSources)])],
  };
  return Object.entries(directives)
    .map(([name, values]) => `${name} ${values.join(" ")}`)
    .join(";"); // as @fastify/helmet writes it
}

/** The CSP source that admits a redirect URI: its origin (or its scheme, for a native app's custom one). */
export function formActionSource(uri: unknown): string | undefined {
  if (typeof uri !== "string") return undefined;
  const url = URL.parse(uri);
  if (!url) return undefined;
  if (url.protocol === "http:" || url.protocol === "https:") {
    // A WHATWG host may contain ; , ' or ", which would end the directive: admit plain hosts only.
    return /^https?:\/\/(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/.test(url.origin) ? url.origin : undefined;
  }
  return /^[a-z][a-z0-9+.-]*:$/.test(url.protocol) ? url.protocol : undefined;
}

export type PolicyOptions = {
  formTargets?: Iterable<unknown>;
  scriptHashes?: string[];
  /** URLs (or origins) of images the page shows: the brand's and a client's logo. */
  imageSources?: Iterable<unknown>;
  /** The page carries the sign-up proof-of-work widget (pages/sign-up-fields.ts): its script, worker and challenge, all from the IdP. */
  proofOfWorkWidget?: boolean;
  /** The sign-in page carries the passkey script (http/passkey-script.ts), which fetches from the IdP. */
  passkeyScript?: boolean;
};

/** The origins of image URLs, for img-src; a URL that is not plain http(s) admits nothing. */
function imageSources(urls: Iterable<unknown> = []): string[] {
  const sources: string[] = [];
  for (const url of urls) {
    if (typeof url !== "string" || url.startsWith("/")) continue;
    const parsed = URL.parse(url);
    if (parsed && (parsed.protocol === "https:" || parsed.protocol === "http:")) {
      const source = formActionSource(parsed.origin);
      if (source) sources.push(source);
    }
  }
  return sources;
}

/**
 * Sets this page's policy: its forms may end at the (already validated) redirect URIs they lead
 * to, and it may show the brand's and the client's logos.
 */
export function setPagePolicy(reply: FastifyReply, options: PolicyOptions): void {
  reply.header("content-security-policy", contentSecurityPolicy(options));
}

const helmetOptions = (imageOrigins: string[]) => ({
  ...HELMET_OPTIONS,
  contentSecurityPolicy: { useDefaults: false, directives: { ...DIRECTIVES, "img-src": [...DIRECTIVES["img-src"], ...imageSources(imageOrigins)] } },
});

const HELMET_OPTIONS = {
  xFrameOptions: { action: "deny" },
  referrerPolicy: { policy: "no-referrer" },
  crossOriginOpenerPolicy: { policy: "same-origin" },
  crossOriginResourcePolicy: { policy: "same-origin" },
  // Set per request (below), only over https: over plain http it means nothing, and a development
  // IdP on localhost must not pin other local services to https.
  strictTransportSecurity: false,
} as const;

/** HSTS when the browser reached us over https: an https issuer, or X-Forwarded-Proto under TRUST_PROXY. */
function hstsFor(issuer: string): (request: FastifyRequest, reply: FastifyReply) => void {
  const httpsIssuer = new URL(issuer).protocol === "https:";
  return (request, reply) => {
    // request.protocol honours X-Forwarded-Proto only when TRUST_PROXY is set.
    if (httpsIssuer || request.protocol === "https") reply.raw.setHeader("strict-transport-security", HSTS);
  };
}

/**
 * Registers the headers. Must be registered before @fastify/middie: its onRequest hooks then put the
 * headers on the raw response before oidc-provider (a Koa app run by middie) answers, so they reach
 * the provider's responses too, which no Fastify onSend hook sees.
 */
export async function securityHeaders(app: FastifyInstance, options: { issuer: string; imageOrigins: string[] }): Promise<void> {
  await app.register(fastifyHelmet, helmetOptions(options.imageOrigins));
  const hsts = hstsFor(options.issuer);
  app.addHook("onRequest", async (request, reply) => hsts(request, reply));

  // Fastify's own responses (pages, errors, 404s): nothing is cached unless the route says so.
  app.addHook("onSend", async (_request, reply, payload) => {
    if (!reply.hasHeader("cache-control")) reply.header("cache-control", "no-store");
    return payload;
  });
}

/**
 * For Fastify's frameworkErrors (a URL with broken percent-encoding): Fastify answers those before
 * any hook runs, so the handler applies the same headers itself.
 */
export function frameworkErrorHeaders(options: { issuer: string; imageOrigins: string[] }): (request: FastifyRequest, reply: FastifyReply) => void {
  const applyHelmet = helmet(helmetOptions(options.imageOrigins));
  const hsts = hstsFor(options.issuer);
  return (request, reply) => {
    applyHelmet(request.raw, reply.raw, () => {});
    hsts(request, reply);
    reply.header("cache-control", "no-store");
  };
}

/** Routes whose responses are public and meant to be cached (with their own Cache-Control). */
const CACHEABLE_ROUTES = new Set(["discovery", "jwks"]);

/**
 * oidc-provider's side (provider.use): no-store on everything but discovery and the JWKS, and a
 * form-action that lets its forms (the sign-out confirmation, form_post) reach the client's
 * registered redirect URI. Runs after the provider has validated those URIs.
 */
export function providerSecurityHeaders(provider: Provider, imageOrigins: string[]): void {
  provider.use(async (ctx: KoaContextWithOIDC, next) => {
    try {
      await next();
    } finally {
      applyProviderHeaders(ctx, imageOrigins);
    }
  });
}

function applyProviderHeaders(ctx: KoaContextWithOIDC, imageOrigins: string[]): void {
  const oidc = ctx.oidc as KoaContextWithOIDC["oidc"] | undefined;
  if (!CACHEABLE_ROUTES.has(oidc?.route ?? "") && !ctx.response.get("cache-control")) ctx.set("cache-control", "no-store");

  const client = oidc?.client;
  const params = (oidc?.params ?? {}) as Record<string, unknown>;
  const targets: string[] = [];
  if (client && typeof params.redirect_uri === "string" && client.redirectUriAllowed(params.redirect_uri)) targets.push(params.redirect_uri);
  if (client && typeof params.post_logout_redirect_uri === "string" && client.postLogoutRedirectUriAllowed(params.post_logout_redirect_uri)) {
    targets.push(params.post_logout_redirect_uri);
  }
  // oidc-provider appends the hash of its auto-submit script to the policy it finds (form_post).
  const current = String(ctx.response.get("content-security-policy") ?? "");
  const scriptHashes = current.match(/'sha256-[A-Za-z0-9+/=]+'/g) ?? [];
  if (targets.length > 0 || scriptHashes.length > 0) {
    ctx.set("content-security-policy", contentSecurityPolicy({ formTargets: targets, scriptHashes: [...new Set(scriptHashes)], imageSources: imageOrigins }));
  }
}
