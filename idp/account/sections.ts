// How features add their part to the account page (/account) without editing it: a section renders
// a block of the page for the signed-in person, and may bring its own routes under /account, each
// behind the IdP's own sign-in (http/idp-session.ts). app.ts lists the sections.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Html } from "../pages/html.ts";
import type { View } from "../pages/layout.ts";
import type { User } from "../store/users.ts";
import type { IdpPageSession, IdpSessionOptions, RequireIdpSession } from "../http/idp-session.ts";

/** Re-authentication for changing a credential: a sign-in within the last 5 minutes. */
export const RECENT_SIGN_IN_SECONDS = 300;

/** What a section sees when the page is drawn. */
export type AccountSectionInput = {
  request: FastifyRequest;
  view: View;
  session: IdpPageSession;
  user: User;
  /** The CSRF token for the section's forms (pages/layout.ts csrfField). */
  csrfToken: string;
};

/** Who is signed in on a request under /account, with the view and a CSRF token for its page. */
export type SignedInAccount = { session: IdpPageSession; user: User; view: View; csrfToken: string };

/** What a section's routes get: the guard, and the helpers every /account page uses. */
export type AccountRouteContext = {
  requireIdpSession: RequireIdpSession;
  /**
   * The guard, plus the person and the page's view and CSRF token; undefined once the browser has
   * been sent to sign in (return the reply then). A person who no longer exists is signed out.
   */
  signedIn(request: FastifyRequest, reply: FastifyReply, options?: IdpSessionOptions): Promise<SignedInAccount | undefined>;
  /** A whole /account page in the layout (title, body), with the page's security policy. */
  sendPage(reply: FastifyReply, view: View, page: { title: string; body: Html; status?: number }): FastifyReply;
  /** Back to the account page (303), optionally to a section and with a notice (see `noticeQuery`). */
  backToAccount(reply: FastifyReply, options?: { section?: string; notice?: string }): FastifyReply;
  /** Routes under /account share the CSRF protection of the page's forms. */
  csrfProtection: FastifyInstance["csrfProtection"];
};

export type AccountSection = {
  /** The section's element id (an anchor: /account#id) and its routes' name. */
  id: string;
  /** Where it goes on the page, lower first: the password is 10, sessions 80, security events 90. */
  order: number;
  render(input: AccountSectionInput): Html | Promise<Html>;
  /** Its own routes, registered in an encapsulated scope (paths start with /account/). */
  routes?: (scope: FastifyInstance, context: AccountRouteContext) => void | Promise<void>;
};
