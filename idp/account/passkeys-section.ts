// The account page's passkeys section: the person's passkeys (rename, remove) and "Add a passkey",
// a page whose script (the IdP's one passkey file) asks the browser to create one. Adding or
// removing needs a sign-in within the last five minutes; the last way to sign in cannot be removed.
import type { RegistrationResponseJSON } from "@simplewebauthn/server";
import type { Passkeys } from "../accounts/passkeys.ts";
import { PASSKEY_NAME_MAX_LENGTH } from "../accounts/passkeys.ts";
import { setPagePolicy } from "../http/security-headers.ts";
import { formBody } from "../interactions/schemas.ts";
import { addPasskeyPage, passkeysSectionBody } from "../pages/passkey.ts";
import { layout } from "../pages/layout.ts";
import type { User } from "../store/users.ts";
import { RECENT_SIGN_IN_SECONDS, type AccountSection } from "./sections.ts";

const PATH = "/account/passkeys";
const NAME = { type: "string", minLength: 1, maxLength: PASSKEY_NAME_MAX_LENGTH, pattern: "\\S" } as const;
const CREDENTIAL_ID = { type: "object", required: ["id"], properties: { id: { type: "string", pattern: "^[A-Za-z0-9_-]{1,1400}$" } } } as const;

export type PasskeysSectionDeps = {
  passkeys: Passkeys;
  scriptHref: string;
  logoUrl?: string;
  /** Whether the person can still sign in without passkeys (a password, a code by mail or SMS). */
  otherWayIn(user: User): boolean;
};

export function passkeysSection(deps: PasskeysSectionDeps): AccountSection {
  const { passkeys } = deps;
  const fresh = (returnTo: string) => ({ maxAgeSeconds: RECENT_SIGN_IN_SECONDS, returnTo });
  const context = (request: { ip: string; headers: Record<string, unknown> }) => ({ ip: request.ip, userAgent: request.headers["user-agent"] as string | undefined });

  return {
    id: "passkeys",
    order: 30,
    async render({ view, user, csrfToken }) {
      const list = await passkeys.list(user.id);
      const removable = deps.otherWayIn(user) || list.length > 1;
      return passkeysSectionBody(view, { csrfToken, passkeys: list, removable, addHref: `${PATH}/new` });
    },

    routes(scope, routeContext) {
      scope.get(`${PATH}/new`, async (request, reply) => {
        const account = await routeContext.signedIn(request, reply, fresh(`${PATH}/new`));
        if (!account) return reply;
        const { view, csrfToken } = account;
        setPagePolicy(reply, { imageSources: [deps.logoUrl], passkeyScript: true });
        return reply.type("text/html").send(layout(view, addPasskeyPage(view, { csrfToken, scriptHref: deps.scriptHref, action: PATH })));
      });

      // The registration options, for the signed-in person only (JSON, for the page's script).
      scope.post(
        `${PATH}/options`,
        { schema: { body: { type: "object", additionalProperties: false, properties: {} } }, preHandler: routeContext.csrfProtection },
        async (request, reply) => {
          const account = await routeContext.signedIn(request, reply, fresh(`${PATH}/new`));
          if (!account) return reply;
          return reply.type("application/json; charset=utf-8").send(await passkeys.registrationOptions(account.user.id));
        },
      );

      scope.post<{ Body: { name: string; credential: string; _csrf: string } }>(
        PATH,
        { schema: { body: formBody(["name", "credential"], { name: NAME, credential: { type: "string", minLength: 2, maxLength: 64 * 1024 } }) }, preHandler: routeContext.csrfProtection },
        async (request, reply) => {
          const account = await routeContext.signedIn(request, reply, fresh(`${PATH}/new`));
          if (!account) return reply;
          let response: RegistrationResponseJSON | undefined;
          try {
            response = JSON.parse(request.body.credential) as RegistrationResponseJSON;
          } catch {
            response = undefined;
          }
          const valid = response && typeof response === "object" && typeof response.id === "string" && typeof response.response?.clientDataJSON === "string";
          const result = valid
            ? await passkeys.register({ userId: account.user.id, response: response!, name: request.body.name, context: context(request), locale: account.view.locale })
            : { ok: false as const };
          if (result.ok) return routeContext.backToAccount(reply, { section: "passkeys", notice: "passkeyAdded" });
          const { view, csrfToken } = account;
          setPagePolicy(reply, { imageSources: [deps.logoUrl], passkeyScript: true });
          const page = addPasskeyPage(view, { csrfToken, scriptHref: deps.scriptHref, action: PATH, error: { message: view.t("account.passkeys.error.notAdded") } });
          return reply.code(400).type("text/html").send(layout(view, page));
        },
      );

      scope.post<{ Params: { id: string }; Body: { name: string; _csrf: string } }>(
        `${PATH}/:id/rename`,
        { schema: { params: CREDENTIAL_ID, body: formBody(["name"], { name: NAME }) }, preHandler: routeContext.csrfProtection },
        async (request, reply) => {
          const account = await routeContext.signedIn(request, reply);
          if (!account) return reply;
          const renamed = await passkeys.rename(account.user.id, request.params.id, request.body.name, context(request));
          return routeContext.backToAccount(reply, { section: "passkeys", notice: renamed ? "passkeyRenamed" : undefined });
        },
      );

      scope.post<{ Params: { id: string }; Body: { _csrf: string } }>(
        `${PATH}/:id/remove`,
        { schema: { params: CREDENTIAL_ID, body: formBody([], {}) }, preHandler: routeContext.csrfProtection },
        async (request, reply) => {
          const account = await routeContext.signedIn(request, reply, fresh("/account#passkeys"));
          if (!account) return reply;
          const { user } = account;
          // The last way in stays: without a password or a code, the last passkey is the account's key.
          if (!deps.otherWayIn(user) && (await passkeys.list(user.id)).length <= 1) {
            return routeContext.backToAccount(reply, { section: "passkeys", notice: "passkeyLastWayIn" });
          }
          const removed = await passkeys.remove(user.id, request.params.id, { ...context(request), locale: account.view.locale });
          return routeContext.backToAccount(reply, { section: "passkeys", notice: removed ? "passkeyRemoved" : undefined });
        },
      );
    },
  };
}
