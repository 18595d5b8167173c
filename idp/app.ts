// buildApp(deps): the one composition root. It wires stores, accounts, the provider and the routes
// into a Fastify instance and never listens, so tests can use app.inject() or listen themselves.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import middie from "@fastify/middie";
import cookie from "@fastify/cookie";
import formbody from "@fastify/formbody";
import csrfProtection from "@fastify/csrf-protection";
import type Provider from "oidc-provider";
import type { View } from "./pages/layout.ts";
import { configurationWarnings, keySchedulePolicy, mountPath, signInMethods, signUpEmailDomains, type Config } from "./config.ts";
import { createKeyRing, type KeyRing } from "./keys/key-ring.ts";
import type { KeySchedule } from "./keys/key-schedule.ts";
import type { Database, Queryable } from "./db/database.ts";
import type { KeyMaterial } from "./keys/key-material.ts";
import { storesOver } from "./store/stores.ts";
import { tokenWriteCommitter } from "./oidc/token-unit-of-work.ts";
import { argon2Params, createPasswordHasher } from "./accounts/passwords.ts";
import { createPasswordSignIn } from "./accounts/sign-in.ts";
import { openRateLimitStore } from "./abuse/rate-limit-store.ts";
import { createLockout, lockoutPolicy } from "./abuse/lockout.ts";
import { createRateLimits } from "./abuse/limits.ts";
import { createAdapterClass } from "./oidc/adapter.ts";
import { cachedClientLookup } from "./oidc/client-cache.ts";
import { createProvider } from "./oidc/provider.ts";
import { recordRevocations } from "./oidc/revocation-audit.ts";
import { recordSignOuts } from "./oidc/sign-out-audit.ts";
import { auditInRequest } from "./oidc/audit-in-request.ts";
import { interactionRoutes } from "./interactions/routes.ts";
import { loggerOptions } from "./logging.ts";
import { frameworkErrorHeaders, providerSecurityHeaders, securityHeaders } from "./http/security-headers.ts";
import { refuseNulParameters } from "./oidc/nul-parameters.ts";
import { createMetrics, metricsRoute, requestId } from "./http/observability.ts";
import { createPublicDocumentCache } from "./http/public-documents.ts";
import { answerUnparsableRequest, createErrorResponses } from "./http/error-responses.ts";
import { loadPageAssets, pageAssetRoutes } from "./http/page-assets.ts";
import { healthRoutes } from "./http/health.ts";
import { scheduleCleanups } from "./store/cleanup.ts";
import { idpErrors } from "./errors.ts";
import { createSealer } from "./mail/seal.ts";
import { mailTransport } from "./mail/transports.ts";
import { createOutboxWorker } from "./mail/outbox-worker.ts";
import { smsSender } from "./sms/senders.ts";
import { createCooldown } from "./abuse/cooldown.ts";
import { createPasswordReset } from "./accounts/password-reset.ts";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "./accounts/password-policy.ts";
import { forgotPasswordHref, passwordResetRoutes } from "./interactions/password-reset-routes.ts";
import { hostValidation } from "./http/host-validation.ts";
import { createCodeSecrets } from "./accounts/code-secrets.ts";
import { createCodeSignIn } from "./accounts/code-sign-in.ts";
import { codeSignInRoutes, type PhoneNumberCheck } from "./interactions/code-sign-in-routes.ts";
import { normalisePhone, parseCountryList, phoneCountryAllowed } from "./sms/phone-numbers.ts";
import type { SignInOffer } from "./pages/sign-in.ts";
import { createSignUp } from "./accounts/sign-up.ts";
import { signUpRoutes } from "./interactions/sign-up-routes.ts";
import { createSignUpProtection } from "./http/sign-up-protection.ts";
import { createEmailVerification } from "./accounts/email-verification.ts";
import { emailVerificationRoutes } from "./interactions/email-verification-routes.ts";
import { createInvitations } from "./accounts/invitations.ts";
import { invitationRoutes } from "./interactions/invitation-routes.ts";
import { createDeliveryWorker } from "./webhooks/delivery-worker.ts";
import { WEBHOOK_SECRET_INFO } from "./webhooks/endpoints.ts";
import { createUpstreamDirectory } from "./federation/upstream-directory.ts";
import { createUpstreamClient } from "./federation/upstream-client.ts";
import { createFederatedSignIn } from "./federation/federated-sign-in.ts";
import { redirectUriFor, UPSTREAM_SECRET_INFO } from "./federation/upstream-providers.ts";
import { upstreamRoutes, UPSTREAM_STATE_INFO } from "./interactions/upstream-routes.ts";
import { identitiesSection } from "./account/identities-section.ts";
import { createIdpSessions, IDP_PAGES_CLIENT_ID, idpPagesClientMetadata, withIdpPagesClient } from "./http/idp-session.ts";
import { accountRoutes } from "./account/routes.ts";
import type { AccountSection } from "./account/sections.ts";
import { createPasswordChange } from "./accounts/password-change.ts";
import { passwordSection } from "./account/password-section.ts";
import { createSignOuts } from "./accounts/sign-outs.ts";
import { sessionsSection } from "./account/sessions-section.ts";
import { eventsSection } from "./account/events-section.ts";
import { createSecurityNotices } from "./accounts/security-notices.ts";
import { createSecondFactors, secondFactorReset, PENDING_SIGN_IN_TTL_SECONDS, TOTP_SEED_INFO } from "./accounts/second-factors.ts";
import { createSecretBox } from "./keys/secret-box.ts";
import { stepUpOf, type SecondFactorGate } from "./interactions/interaction-helpers.ts";
import { secondFactorRoutes, type PasskeyHooks } from "./interactions/second-factor-routes.ts";
import { createPasskeys, passkeyReset } from "./accounts/passkeys.ts";
import { passkeyRoutes } from "./interactions/passkey-routes.ts";
import { loadPasskeyScript, passkeyScriptRoute } from "./http/passkey-script.ts";
import { passkeyForm } from "./pages/passkey.ts";
import { passkeysSection } from "./account/passkeys-section.ts";
import { createOperator, type FactorReset } from "./accounts/operator.ts";
import { createServiceAuth } from "./admin/service-auth.ts";
import { adminApiRoutes } from "./admin/api-routes.ts";
import { adminConsoleRoutes } from "./admin/console-routes.ts";
import { secondFactorSection } from "./account/second-factor-section.ts";

export type AppDeps = {
  config: Config;
  db: Database;
  keys: KeyMaterial;
  /** The clock; tests drive it. */
  now?: () => Date;
  /** Fastify logger settings; defaults to JSON logs at config.logLevel with secrets redacted. */
  logger?: FastifyServerOptions["logger"];
};

declare module "fastify" {
  interface FastifyInstance {
    /** The oidc-provider instance behind the OIDC endpoints (rebuilt when the signing keys change). */
    provider: Provider;
    /** The signing keys in use; refresh() re-reads KEYS_DIR at once. */
    keyRing: KeyRing;
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, db, keys } = deps;
  const now = deps.now ?? (() => new Date());

  // Stores are built here and in the CLI's root (cli/context.ts), nowhere else; what follows gets
  // them, or this factory, to build them over a transaction's connection.
  const storesOn = (queryable: Queryable) => storesOver(queryable, now);
  const { users, clients, payloads, audit: auditStore, outbox, tokens, codes, invitations: invitationStore } = storesOn(db);
  const hasher = createPasswordHasher(argon2Params(config));
  // The provider and the sign-in pages look clients up on every request: from memory, briefly.
  const clientLookup = cachedClientLookup(clients, config.clientCacheTtlSeconds, now);
  const adapter = createAdapterClass({
    payloads,
    clients: clientLookup,
    refreshTokenReuseGraceSeconds: config.refreshTokenReuseGraceSeconds,
    now,
  });
  const commitTokenWrites = tokenWriteCommitter(payloads);
  const assets = await loadPageAssets(config);
  const errorResponses = createErrorResponses(assets.views);

  // The provider signs with the keys it was built with, so it is rebuilt whenever the key schedule
  // changes (a staged key starts signing, an old one retires); its state is all in the database.
  const keyRing = await createKeyRing({ dir: config.keysDir, now, policy: keySchedulePolicy(config), loaded: keys.signingKeys });
  const metrics = createMetrics({ pool: db.pool, keyRing, now });
  const buildProvider = (schedule: KeySchedule) => {
    const built = createProvider({
      config,
      keys: { ...keys, signingKeys: schedule.published },
      adapter,
      users,
      commitTokenWrites,
      views: assets.views,
      errorResponses,
      now,
      // Bound late: the limits are built below, and the first poll comes long after.
      devicePollTooSoon: (subject, intervalSeconds) => rateLimits.devicePollTooSoon(subject, intervalSeconds),
      // The IdP's own pages sign in as this client (http/idp-session.ts).
      builtInClients: [idpPagesClientMetadata(config.issuer)],
      // Bound late (built below): a single sign-on session below the MFA policy is asked for the missing factor.
      requiredLevel: async (accountId, clientId, requested) => secondFactors.requiredLevel(accountId, await pagesClientLookup.find(clientId), requested),
    });
    built.on("server_error", (_ctx, error) => app.log.error({ err: error }, "oidc-provider server_error"));
    // Token and grant revocations, and sign-outs, go to the audit trail (never the token values).
    const record = auditInRequest(built, auditStore, (error) => app.log.error({ err: error }, "audit event not recorded"));
    recordRevocations(built, record);
    recordSignOuts(built, record);
    providerSecurityHeaders(built, assets.imageOrigins);
    refuseNulParameters(built);
    metrics.observeProvider(built);
    return { provider: built, handle: built.callback() };
  };

  const badUrlHeaders = frameworkErrorHeaders({ issuer: config.issuer, imageOrigins: assets.imageOrigins });
  const app: FastifyInstance = Fastify({
    logger: deps.logger ?? loggerOptions(config.logLevel),
    trustProxy: config.trustProxy,
    genReqId: requestId,
    bodyLimit: 64 * 1024,
    // A URL with broken percent-encoding is refused before routing and before any hook: give it the
    // security headers and the one error handler like every other bad request.
    frameworkErrors: (error, request, reply) => {
      badUrlHeaders(request, reply);
      return errorResponses.send(request, reply, error);
    },
    clientErrorHandler: answerUnparsableRequest,
  });

  for (const warning of configurationWarnings(config)) app.log.warn(warning);
  // First of all hooks: a Host that cannot be parsed (400) or that we do not serve (421) goes no further.
  hostValidation(app, config, badUrlHeaders);
  metrics.timeRequests(app, mountPath(config));
  // Discovery and the JWKS from memory once the provider has answered them: only the host check and
  // the request id and timing hook run before it (so only allowed hosts are ever remembered).
  const publicDocuments = createPublicDocumentCache({ mount: mountPath(config), trustProxy: config.trustProxy });
  app.addHook("onRequest", publicDocuments.onRequest);
  let current = buildProvider(keyRing.current());
  keyRing.onChange((schedule) => {
    current = buildProvider(schedule);
    publicDocuments.clear();
    app.log.info({ signing: schedule.signing?.kid, published: schedule.published.map((key) => key.kid) }, "signing keys changed");
  });
  keyRing.start(config.keysReloadIntervalSeconds, (error) => app.log.error({ err: error }, "could not reload the signing keys"));
  app.addHook("onClose", async () => keyRing.stop());
  app.decorate("provider", { getter: () => current.provider });
  app.decorate("keyRing", keyRing);

  // Security headers, registered before middie so they also reach the responses oidc-provider writes.
  await securityHeaders(app, { issuer: config.issuer, imageOrigins: assets.imageOrigins });

  // Abuse protection (idp/abuse/): counters shared by every instance, in Redis or the database. The
  // limits hook comes before middie, so a limited request never reaches the provider.
  const rateLimitStore = await openRateLimitStore(config, db, now);
  const rateLimits = createRateLimits(rateLimitStore, config, { now, logger: app.log });
  // The limits send their last locally counted requests before the store closes.
  app.addHook("onClose", async () => {
    await rateLimits.close();
    await rateLimitStore.close();
  });
  const lockout = createLockout(rateLimitStore, lockoutPolicy(config), now);
  app.addHook("onRequest", rateLimits.onRequest);

  // oidc-provider is a Koa app: it runs as middleware before Fastify's routing, under the issuer's path.
  await app.register(middie);
  app.use(mountPath(config), (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => current.handle(req, res));

  await app.register(cookie, { secret: keys.cookieKeys });
  await app.register(formbody);
  await app.register(csrfProtection, {
    sessionPlugin: "@fastify/cookie",
    cookieOpts: { path: "/interaction", httpOnly: true, sameSite: "lax", signed: true, secure: "auto" },
  });

  app.setErrorHandler((error, request, reply) => errorResponses.send(request, reply, error));
  app.setNotFoundHandler((request, reply) => errorResponses.send(request, reply, idpErrors.notFound()));
  pageAssetRoutes(app, assets);
  healthRoutes(app, db);
  const checkPassword = createPasswordSignIn(users, hasher, { lockout, audit: auditStore });
  const signInWithPassword: typeof checkPassword = async (...args) => {
    const result = await checkPassword(...args);
    metrics.recordSignIn(result);
    return result;
  };
  metricsRoute(app, metrics, config.metricsToken);
  // Mail (idp/mail/): queued in the outbox together with what it reports, sent by a worker after
  // the answer. No transport in production without SMTP_URL: then nothing offers mail.
  const sealer = createSealer(keys.cookieKeys);
  const transport = mailTransport(config, app.log);
  // SMS (idp/sms/) go through the same outbox and worker (the channel column): Twilio or the
  // webhook when configured, files in development, none in production without either (then nothing
  // offers SMS). A flow queues with outbox.enqueue({ channel: "sms", ... }) and calls mailWorker.wake.
  const sms = smsSender(config, app.log, { now });
  const mailWorker = transport || sms
    ? createOutboxWorker({
        outbox,
        transport,
        sms,
        sealer,
        context: (locale) => ({ locale, brand: assets.views.brand, origin: new URL(config.issuer).origin, passwordReset: config.passwordReset && transport !== undefined }),
        now,
        log: app.log,
        maxAttempts: config.mailMaxAttempts,
        sendTimeoutSeconds: config.mailSendTimeoutSeconds,
        pollIntervalMs: config.mailPollIntervalMs,
        onOutcome: metrics.recordMail,
      })
    : undefined;
  if (mailWorker) {
    app.addHook("onReady", async () => mailWorker.start());
    app.addHook("onClose", async () => mailWorker.stop());
  }
  // loadConfig refuses PASSWORD_RESET without a way to send mail.
  const passwordReset =
    config.passwordReset && transport && mailWorker
      ? createPasswordReset({
          db,
          stores: storesOn,
          hasher,
          sealer,
          lockout,
          cooldown: createCooldown(rateLimitStore),
          limits: rateLimits,
          onMailQueued: mailWorker.wake,
          now,
        })
      : undefined;

  // Sign-in by one-time code (SIGN_IN_METHODS): by mail when mail can be sent, by SMS when SMS can.
  const methods = signInMethods(config);
  const cooldown = createCooldown(rateLimitStore);
  const codeSecrets = createCodeSecrets(keys.cookieKeys);
  const codeSignIn = mailWorker
      ? createCodeSignIn({
          db,
          stores: storesOn,
          secrets: codeSecrets,
          sealer,
          lockout,
          cooldown,
          limits: {
            codeRequest: (channel, ip, identifier) => (channel === "sms" ? rateLimits.smsCodeRequest(ip, identifier) : rateLimits.emailCodeRequest(ip, identifier)),
            codeAttempt: rateLimits.signIn,
          },
          onMessageQueued: mailWorker.wake,
          now,
        })
      : undefined;
  // Sign-up (SIGN_UP=open): confirmed by mail, so only where mail can be sent (loadConfig sees to it).
  const signUp =
    config.signUp === "open" && transport && mailWorker
      ? createSignUp({
          db,
          stores: storesOn,
          secrets: codeSecrets,
          sealer,
          hasher,
          lockout,
          cooldown,
          limits: { signUpRequest: rateLimits.signUpRequest, codeAttempt: rateLimits.signIn },
          allowedDomains: signUpEmailDomains(config),
          onMailQueued: mailWorker.wake,
          now,
        })
      : undefined;
  // Passkeys (idp/accounts/passkeys.ts): passwordless from the sign-in page (its one script, served
  // here), or the second factor after a first. passkeys.hasPasskeys tells the MFA policy who has one.
  const passkeyScript = await loadPasskeyScript();
  passkeyScriptRoute(app, passkeyScript);
  const passkeys = createPasskeys({
    db,
    stores: storesOn,
    lockout,
    settings: { rpId: config.webauthnRpId, origin: new URL(config.issuer).origin, rpName: config.brandName },
    // Adding or removing one is mailed to the person wherever mail can go out.
    notices: createSecurityNotices({ sealer: transport && mailWorker ? sealer : undefined, defaultLocale: config.defaultLocale, now }),
    now,
  });
  // Upstream identity providers (idp/federation/, `idp upstreams`): their buttons and email
  // domains read before each interaction request (at most once per CLIENT_CACHE_TTL), their
  // secrets opened with the cookie keys, the pending sign-in sealed in a cookie of the browser.
  const upstreamDirectory = createUpstreamDirectory({
    upstreams: storesOn(db).upstreams,
    ttlSeconds: config.clientCacheTtlSeconds,
    now,
    onError: (error) => app.log.warn({ err: error }, "could not read the upstream providers"),
  });
  app.addHook("onRequest", async (request) => {
    if (request.url.startsWith("/interaction/")) await upstreamDirectory.refresh();
  });
  const federation = createFederatedSignIn({
    db,
    stores: storesOn,
    // "Your sign-in methods changed" by mail when a provider is linked or unlinked, wherever mail can be sent.
    notices: createSecurityNotices({ sealer: transport && mailWorker ? sealer : undefined, defaultLocale: config.defaultLocale, now }),
    onMailQueued: mailWorker?.wake,
  });
  const registerUpstreamRoutes = () =>
    app.register(async (scope) =>
      upstreamRoutes(scope, {
        ...interactionContext,
        findProvider: (id) => storesOn(db).upstreams.findProvider(id),
        client: createUpstreamClient({ sealer: createSealer(keys.cookieKeys, UPSTREAM_SECRET_INFO), redirectUri: redirectUriFor(config.issuer), production: config.production, now }),
        federation,
        sealer: createSealer(keys.cookieKeys, UPSTREAM_STATE_INFO),
        signInWithPassword,
        limitSignIn: rateLimits.signIn,
        now,
      }),
    );

  const offer = (uid: string, view: View): SignInOffer => ({
    password: methods.has("password"),
    emailCode: transport !== undefined && methods.has("email_code"),
    smsCode: sms !== undefined && methods.has("sms_code"),
    signUp: signUp !== undefined,
    forgotPasswordHref: passwordReset && forgotPasswordHref(uid, view),
    passkey: { scriptHref: passkeyScript.href },
    upstreams: upstreamDirectory.offered(),
  });

  // Second factors (accounts/second-factors.ts): TOTP and recovery codes, the MFA policy that
  // finishSignIn applies to every way of signing in, and the second-factor step of a sign-in.
  // Factor changes are audited and mailed (accounts/security-notices.ts) where mail can go out.
  const securityNotices = createSecurityNotices({ sealer: transport && mailWorker ? sealer : undefined, defaultLocale: config.defaultLocale, now });
  // The passkeys module lends its hooks here (whether a person has one, its button on the second-factor page).
  const passkeyHooks: PasskeyHooks = {
    hasPasskeys: passkeys.hasPasskeys,
    secondFactorOffer: ({ uid, view, csrfToken }) => passkeyForm(view, uid, csrfToken, passkeyScript.href),
  };
  const secondFactorStore = storesOn(db).secondFactors;
  const secondFactors = createSecondFactors({
    db,
    stores: storesOn,
    box: createSecretBox(keys.cookieKeys, TOTP_SEED_INFO),
    notices: securityNotices,
    lockout,
    issuerName: assets.views.brand.name,
    mfaRequired: config.mfa === "required",
    hasPasskeys: passkeyHooks?.hasPasskeys,
    onMailQueued: mailWorker?.wake,
    now,
  });
  const secondFactorGate: SecondFactorGate = {
    requiredLevel: secondFactors.requiredLevel,
    pending: secondFactorStore,
    pendingTtlSeconds: Math.min(PENDING_SIGN_IN_TTL_SECONDS, config.interactionTtlSeconds),
    now,
  };

  const provider = () => current.provider;
  // The pages know the built-in client of the IdP's own pages too (first-party: no consent step).
  const pagesClientLookup = withIdpPagesClient(clientLookup, { issuer: config.issuer, name: assets.views.brand.name });
  const interactionContext = { provider, clients: pagesClientLookup, views: assets.views, secondFactor: secondFactorGate, passkeyScript: true };
  await app.register(async (scope) =>
    secondFactorRoutes(scope, { ...interactionContext, secondFactors, pending: secondFactorStore, users, limitSignIn: rateLimits.signIn, passkeys: passkeyHooks }),
  );
  await app.register(async (scope) =>
    interactionRoutes(scope, { ...interactionContext, signInWithPassword, limitSignIn: rateLimits.signIn, offer, homeRealm: upstreamDirectory.forEmail }),
  );
  // A passkey after a first factor (or in a step-up) must be that person's: only theirs are offered,
  // bound as finishSignIn binds it.
  const firstFactorAccount = async (details: Parameters<typeof stepUpOf>[0]) =>
    (await secondFactorStore.findPending(details.uid))?.userId ?? stepUpOf(details)?.accountId;
  await app.register(async (scope) => passkeyRoutes(scope, { ...interactionContext, passkeys, offer, limitSignIn: rateLimits.signIn, firstFactorAccount }));
  await registerUpstreamRoutes();
  const allowedCountries = parseCountryList(config.smsAllowedCountries);
  const phoneNumber: PhoneNumberCheck = (input) => {
    const parsed = normalisePhone(input);
    if (!parsed.ok) return { ok: false, reason: "invalid" };
    return phoneCountryAllowed(parsed.e164, allowedCountries) ? { ok: true, e164: parsed.e164 } : { ok: false, reason: "country" };
  };
  // The code pages and /email-link/<token> exist only while a sign-in method or sign-up uses them.
  const codesOffered = (transport !== undefined && methods.has("email_code")) || (sms !== undefined && methods.has("sms_code")) || signUp !== undefined;
  if (codeSignIn && codesOffered) await app.register(async (scope) => codeSignInRoutes(scope, { ...interactionContext, codeSignIn, offer, phoneNumber }));
  if (signUp && codeSignIn && codesOffered) {
    const protection = await createSignUpProtection({ config, cookieKeys: keys.cookieKeys, store: rateLimitStore, now });
    protection.routes(app);
    await app.register(async (scope) =>
      signUpRoutes(scope, {
        ...interactionContext,
        signUp,
        guard: protection.guard,
        newBrowserSecret: codeSignIn.newBrowserSecret,
        confirmationCode: codeSignIn.confirmationCode,
        passwordLength: { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH },
      }),
    );
  }
  if (passwordReset) {
    const passwordLength = { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH };
    await app.register(async (scope) => passwordResetRoutes(scope, { passwordReset, views: assets.views, passwordLength }));
  }
  // Email verification links (sent by `idp users add --send-verification`): offered wherever mail can go out.
  if (transport && mailWorker) {
    const emailVerification = createEmailVerification({
      db,
      stores: storesOn,
      sealer,
      onMailQueued: mailWorker.wake,
      now,
    });
    await app.register(async (scope) => emailVerificationRoutes(scope, { emailVerification, views: assets.views }));
  }
  // Invitation links (sent by `idp users invite` and the admin API): with SIGN_UP=invite or open, wherever mail can go out.
  let invitations: ReturnType<typeof createInvitations> | undefined;
  if (transport && mailWorker && config.signUp !== "off") {
    const created = createInvitations({
      db,
      stores: storesOn,
      hasher,
      sealer: async () => sealer,
      onMailQueued: mailWorker.wake,
      now,
    });
    invitations = created;
    const passwordLength = { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH };
    await app.register(async (scope) => invitationRoutes(scope, { invitations: created, views: assets.views, passwordLength }));
  }

  // The IdP's own pages (/account, and /admin) sign people in through the provider as its built-in
  // first-party client (http/idp-session.ts): every factor, lockout and policy applies to them.
  // Features add their part of the account page to accountSections (account/sections.ts).
  const idpSessions = createIdpSessions({
    issuer: config.issuer,
    provider,
    inject: (options) => app.inject(options),
    sessionTtlSeconds: config.sessionTtlSeconds,
    signInTtlSeconds: config.interactionTtlSeconds,
    emailOf: async (accountId) => (await users.findById(accountId))?.email,
    now,
  });
  idpSessions.routes(app);
  const accountSections: AccountSection[] = [];
  const changePassword = createPasswordChange({
    db,
    stores: storesOn,
    hasher,
    lockout,
    // "Your password was changed" by mail wherever mail can be sent; audited either way.
    sealer: transport && mailWorker ? sealer : undefined,
    onMailQueued: mailWorker?.wake,
    now,
  });
  const signOuts = createSignOuts({ db, stores: storesOn, hiddenClientIds: [IDP_PAGES_CLIENT_ID] });
  accountSections.push(
    passwordSection({ changePassword }),
    secondFactorSection({ secondFactors, mfaRequired: config.mfa === "required", hasPasskeys: passkeyHooks?.hasPasskeys }),
    identitiesSection({ federation, providers: () => storesOn(db).upstreams.listProviders() }),
    sessionsSection({ signOuts, clients: pagesClientLookup, endPageSession: (reply) => idpSessions.endPageSession(reply, "/account") }),
    eventsSection({ audit: auditStore }),
    passkeysSection({
      passkeys,
      scriptHref: passkeyScript.href,
      logoUrl: assets.views.brand.logoUrl,
      // Other ways in that the sign-in page offers this person: the last passkey stays otherwise.
      otherWayIn: (user) =>
        (methods.has("password") && user.passwordHash !== null) ||
        (transport !== undefined && methods.has("email_code")) ||
        (sms !== undefined && methods.has("sms_code") && user.phoneVerified),
    }),
  );
  await app.register(async (scope) => accountRoutes(scope, { sessions: idpSessions, users, views: assets.views, sections: accountSections }));
  // Administration (idp/admin/): the admin API for service tokens with admin scopes, over the same
  // operator module as the CLI (accounts/operator.ts).
  // Resetting a user's factors removes their authenticator app and recovery codes (accounts/second-factors.ts),
  // audited as mfa.reset and mailed to them, in the operator's transaction.
  // The CLI's operator (cli/context.ts) is given the same resets.
  const factorResets: FactorReset[] = [secondFactorReset(storesOn, securityNotices), passkeyReset(storesOn, securityNotices)];
  const operator = createOperator({ db, stores: storesOn, hasher, lockout: async () => lockout, actor: "system", keys: { config, now }, factorResets });
  const serviceAuth = createServiceAuth({ keyRing, clients, issuer: config.issuer, audience: config.serviceTokenAudience, now });
  await app.register(async (scope) =>
    adminApiRoutes(scope, { config, operator, users, clients, audit: auditStore, keyRing, auth: serviceAuth, errorResponses, invitations, now }),
  );
  // The admin console (/admin): people with the admin role, signed in through the IdP's own pages,
  // always with a second factor (one without is led to set one up inside the sign-in).
  await app.register(async (scope) =>
    adminConsoleRoutes(scope, {
      config,
      sessions: idpSessions,
      operator,
      users,
      clients,
      audit: auditStore,
      payloads,
      upstreams: storesOn(db).upstreams,
      keyRing,
      views: assets.views,
      secondFactorsOf: (user) => secondFactors.factors(user.id),
      now,
    }),
  );

  // Webhooks (idp/webhooks/): events queued with the changes they report (by this instance or the
  // CLI), delivered by a worker in every instance; polling an empty outbox is one indexed query.
  const webhookStore = storesOn(db).webhooks;
  const webhookWorker = createDeliveryWorker({
    webhooks: webhookStore,
    sealer: createSealer(keys.cookieKeys, WEBHOOK_SECRET_INFO),
    now,
    log: app.log,
    timeoutSeconds: config.webhookTimeoutSeconds,
    maxBackoffSeconds: config.webhookMaxBackoffSeconds,
    maxAgeSeconds: config.webhookMaxAgeSeconds,
    pollIntervalMs: config.webhookPollIntervalMs,
    onOutcome: metrics.recordWebhook,
  });
  app.addHook("onReady", async () => webhookWorker.start());
  app.addHook("onClose", async () => webhookWorker.stop());

  const daysAgo = (days: number) => new Date(now().getTime() - days * 86_400_000);
  scheduleCleanups(app, config, [
    { what: "expired oidc state", run: () => payloads.deleteExpired() },
    { what: "expired rate-limit counters", run: () => rateLimitStore.deleteExpired() },
    // Kept a day past expiry, so a late click still finds the link (and counts against the lockout).
    { what: "one-time tokens expired a day ago", run: () => tokens.deleteExpiredBefore(daysAgo(1)) },
    { what: "one-time codes expired a day ago", run: () => codes.deleteExpiredBefore(daysAgo(1)) },
    { what: "passkey challenges expired a day ago", run: () => storesOn(db).passkeys.deleteExpiredChallengesBefore(daysAgo(1)) },
    { what: "invitations expired a day ago", run: () => invitationStore.deleteExpiredBefore(daysAgo(1)) },
    { what: "expired pending sign-ins", run: () => secondFactorStore.deleteExpiredPending() },
    { what: "mail sent or given up a week ago", run: () => outbox.deleteFinishedBefore(daysAgo(7)) },
    { what: "webhooks delivered or given up a week ago", run: () => webhookStore.deleteFinishedBefore(daysAgo(7)) },
    ...(config.auditRetentionDays > 0 ? [{ what: "audit events past AUDIT_RETENTION_DAYS", run: () => auditStore.expireBefore(daysAgo(config.auditRetentionDays)) }] : []),
  ]);

  return app;
}
