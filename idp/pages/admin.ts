// The admin console's pages (/admin): server-rendered, escaped, localised tables and small forms,
// each form with its CSRF token; no script. The routes (admin/console-routes.ts) gather the data.
import { html, type Html } from "./html.ts";
import { buttonForm, csrfField, errorSummary, primaryButton, type FieldError, type View } from "./layout.ts";
import type { User } from "../store/users.ts";
import type { Client } from "../store/clients.ts";
import type { StoredAuditEvent } from "../store/audit.ts";
import type { KeyTimeline } from "../keys/key-schedule.ts";

export type AdminPage = { title: string; body: Html };

/** A person's second factors, as accounts/second-factors.ts counts them. */
export type SecondFactorSummary = { totp: boolean; recoveryCodesLeft: number; passkeys: boolean };

/** An identity at an upstream provider linked to the user (store/upstreams.ts), with the provider's display name. */
export type LinkedIdentity = { provider: string; issuer: string; subject: string; linkedAt: Date };

const time = (date: Date | undefined | null) => (date ? html`<time datetime="${date.toISOString()}">${date.toISOString().replace("T", " ").slice(0, 19)} UTC</time>` : html`–`);

function nav(view: View): Html {
  const { t } = view;
  return html`<nav aria-label="${t("admin.nav.label")}"><ul class="admin-nav">
<li><a href="/admin/users">${t("admin.nav.users")}</a></li>
<li><a href="/admin/clients">${t("admin.nav.clients")}</a></li>
<li><a href="/admin/keys">${t("admin.nav.keys")}</a></li>
<li><a href="/admin/audit">${t("admin.nav.audit")}</a></li>
</ul></nav>`;
}

function subpage(view: View, title: string, body: Html, notice?: string): AdminPage {
  return {
    title,
    body: html`<h1>${title}</h1>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ""}
${body}
<p><a href="/admin">${view.t("admin.back")}</a></p>`,
  };
}

export function adminHomePage(view: View, input: { email: string }): AdminPage {
  const { t } = view;
  return {
    title: t("admin.title"),
    body: html`<h1>${t("admin.title")}</h1>
<p id="signed-in-as">${t("account.signedInAs", { email: input.email })}</p>
<p>${t("admin.intro")}</p>
${nav(view)}`,
  };
}

const status = (view: View, user: User) => (user.disabled ? view.t("admin.status.disabled") : view.t("admin.status.active"));

export function usersPage(view: View, input: { search: string; users: User[]; nextHref?: string }): AdminPage {
  const { t } = view;
  const rows = input.users.map(
    (user) => html`<tr>
<td><a href="/admin/users/${encodeURIComponent(user.id)}">${user.email}</a></td>
<td>${user.name ?? "–"}</td>
<td>${user.roles.join(", ") || "–"}</td>
<td>${status(view, user)}</td>
<td>${time(user.createdAt)}</td>
</tr>`,
  );
  return subpage(
    view,
    t("admin.nav.users"),
    html`<form method="get" action="/admin/users" role="search">
<label for="search">${t("admin.users.search")}</label>
<input id="search" name="search" type="search" value="${input.search}" autocomplete="off">
<button type="submit" class="button-secondary">${t("admin.users.searchButton")}</button>
</form>
${
  input.users.length === 0
    ? html`<p>${t("admin.users.none")}</p>`
    : html`<div class="table-scroll"><table id="users">
<caption>${t("admin.nav.users")}</caption>
<thead><tr><th scope="col">${t("admin.col.email")}</th><th scope="col">${t("admin.col.name")}</th><th scope="col">${t("admin.col.roles")}</th><th scope="col">${t("admin.col.status")}</th><th scope="col">${t("admin.col.created")}</th></tr></thead>
<tbody>${rows}</tbody>
</table></div>`
}
${input.nextHref ? html`<p><a href="${input.nextHref}" rel="next">${t("admin.next")}</a></p>` : ""}`,
  );
}

function auditTable(view: View, events: StoredAuditEvent[], caption: string): Html {
  const { t } = view;
  if (events.length === 0) return html``;
  return html`<div class="table-scroll"><table class="audit">
<caption>${caption}</caption>
<thead><tr><th scope="col">${t("admin.audit.time")}</th><th scope="col">${t("admin.audit.event")}</th><th scope="col">${t("admin.audit.actor")}</th><th scope="col">${t("admin.audit.target")}</th><th scope="col">${t("admin.audit.details")}</th></tr></thead>
<tbody>${events.map(
    (event) => html`<tr>
<td>${time(event.occurredAt)}</td>
<td>${event.event}</td>
<td>${event.actor}</td>
<td>${[event.email ?? event.userId, event.clientId].filter(Boolean).join(" ") || "–"}</td>
<td><code>${JSON.stringify(event.details)}</code></td>
</tr>`,
  )}</tbody>
</table></div>`;
}

export function userPage(
  view: View,
  input: { user: User; sessions: number; events: StoredAuditEvent[]; csrfToken: string; notice?: string; error?: FieldError; secondFactors: SecondFactorSummary; identities: LinkedIdentity[] },
): AdminPage {
  const { t } = view;
  const { user } = input;
  const action = (name: string, label: string) => buttonForm(`/admin/users/${encodeURIComponent(user.id)}/${name}`, input.csrfToken, label, "secondary");
  return subpage(
    view,
    user.email,
    html`${errorSummary(view, input.error ? [input.error] : [])}
<section aria-labelledby="profile-heading"><h2 id="profile-heading">${t("admin.user.profile")}</h2>
<dl>
<dt>${t("admin.col.id")}</dt><dd><code>${user.id}</code></dd>
<dt>${t("admin.col.name")}</dt><dd>${user.name ?? "–"}</dd>
<dt>${t("admin.col.status")}</dt><dd id="user-status">${status(view, user)}</dd>
<dt>${t("admin.col.roles")}</dt><dd id="user-roles">${user.roles.join(", ") || "–"}</dd>
<dt>${t("admin.col.created")}</dt><dd>${time(user.createdAt)}</dd>
</dl></section>
<section aria-labelledby="factors-heading"><h2 id="factors-heading">${t("admin.user.factors")}</h2>
<ul>
${user.passwordHash ? html`<li>${t("admin.user.factor.password")}</li>` : ""}
${user.phone ? html`<li>${t("admin.user.factor.phone", { phone: user.phone })}</li>` : ""}
${input.secondFactors.totp ? html`<li>${t("admin.user.factor.totp")}</li>` : ""}
${input.secondFactors.recoveryCodesLeft > 0 ? html`<li>${t("admin.user.factor.recoveryCodes", { count: input.secondFactors.recoveryCodesLeft })}</li>` : ""}
${input.secondFactors.passkeys ? html`<li>${t("admin.user.factor.passkeys")}</li>` : ""}
</ul>
${input.secondFactors.totp || input.secondFactors.passkeys ? "" : html`<p>${t("admin.user.factor.noSecond")}</p>`}
</section>
<section aria-labelledby="sessions-heading"><h2 id="sessions-heading">${t("admin.user.sessions")}</h2>
<p id="session-count">${t("admin.user.sessionsCount", { count: input.sessions })}</p></section>
<section aria-labelledby="identities-heading"><h2 id="identities-heading">${t("admin.user.identities")}</h2>
${
  input.identities.length === 0
    ? html`<p>${t("admin.user.identitiesNone")}</p>`
    : html`<div class="table-scroll"><table id="identities">
<caption>${t("admin.user.identities")}</caption>
<thead><tr><th scope="col">${t("admin.identities.provider")}</th><th scope="col">${t("admin.identities.issuer")}</th><th scope="col">${t("admin.identities.subject")}</th><th scope="col">${t("admin.identities.linked")}</th></tr></thead>
<tbody>${input.identities.map(
        (identity) => html`<tr>
<td>${identity.provider}</td>
<td><code>${identity.issuer}</code></td>
<td><code>${identity.subject}</code></td>
<td>${time(identity.linkedAt)}</td>
</tr>`,
      )}</tbody>
</table></div>`
}</section>
<section aria-labelledby="actions-heading"><h2 id="actions-heading">${t("admin.user.actions")}</h2>
<div class="admin-actions">
${user.disabled ? action("enable", t("admin.action.enable")) : action("disable", t("admin.action.disable"))}
${action("revoke-sessions", t("admin.action.revokeSessions"))}
${action("unlock", t("admin.action.unlock"))}
${action("reset-factors", t("admin.action.resetFactors"))}
</div>
<form method="post" action="/admin/users/${encodeURIComponent(user.id)}/roles" novalidate>
${csrfField(input.csrfToken)}
<label for="roles">${t("admin.roles.label")}</label>
<input id="roles" name="roles" type="text" value="${user.roles.join(", ")}" autocomplete="off"${input.error ? html` aria-invalid="true" aria-describedby="error-summary-title"` : ""}>
${primaryButton(t("admin.action.saveRoles"))}
</form></section>
<section aria-labelledby="audit-heading"><h2 id="audit-heading">${t("admin.user.audit")}</h2>
${auditTable(view, input.events, t("admin.user.audit"))}</section>`,
    input.notice,
  );
}

export function clientsPage(view: View, input: { clients: Client[] }): AdminPage {
  const { t } = view;
  return subpage(
    view,
    t("admin.nav.clients"),
    html`<div class="table-scroll"><table id="clients">
<caption>${t("admin.nav.clients")}</caption>
<thead><tr><th scope="col">${t("admin.col.id")}</th><th scope="col">${t("admin.col.name")}</th><th scope="col">${t("admin.col.kind")}</th><th scope="col">${t("admin.col.redirects")}</th><th scope="col">${t("admin.col.created")}</th></tr></thead>
<tbody>${input.clients.map(
      (client) => html`<tr>
<td>${client.id}</td>
<td>${client.name ?? "–"}</td>
<td>${client.service ? `service (${client.scopes.join(" ") || "–"})` : `${client.kind}, ${client.secretHash ? "confidential" : "public"}${client.rolesClaim ? ", roles" : ""}`}</td>
<td>${client.redirectUris.join(" ") || "–"}</td>
<td>${time(client.createdAt)}</td>
</tr>`,
    )}</tbody>
</table></div>`,
  );
}

export function keysPage(view: View, input: { timeline: KeyTimeline[]; csrfToken: string; notice?: string }): AdminPage {
  const { t } = view;
  return subpage(
    view,
    t("admin.nav.keys"),
    html`<div class="table-scroll"><table id="keys">
<caption>${t("admin.nav.keys")}</caption>
<thead><tr><th scope="col">${t("admin.col.id")}</th><th scope="col">${t("admin.col.status")}</th><th scope="col">${t("admin.col.created")}</th><th scope="col">${t("admin.keys.activates")}</th><th scope="col">${t("admin.keys.retires")}</th></tr></thead>
<tbody>${input.timeline.map(
      (entry) => html`<tr>
<td><code>${entry.key.kid}</code></td>
<td>${entry.status}</td>
<td>${time(new Date(entry.key.createdAt))}</td>
<td>${time(entry.activatesAt)}</td>
<td>${time(entry.retiresAt)}</td>
</tr>`,
    )}</tbody>
</table></div>
<p>${t("admin.keys.rotateIntro")}</p>
${buttonForm("/admin/keys/rotate", input.csrfToken, t("admin.keys.rotate"), "primary")}`,
    input.notice,
  );
}

export function auditPage(view: View, input: { filter: { event: string; actor: string; userId: string }; events: StoredAuditEvent[]; nextHref?: string }): AdminPage {
  const { t } = view;
  return subpage(
    view,
    t("admin.nav.audit"),
    html`<form method="get" action="/admin/audit" role="search">
<label for="event">${t("admin.audit.event")}</label>
<input id="event" name="event" type="text" value="${input.filter.event}" autocomplete="off">
<label for="actor">${t("admin.audit.actor")}</label>
<input id="actor" name="actor" type="text" value="${input.filter.actor}" autocomplete="off">
<label for="user_id">${t("admin.audit.userId")}</label>
<input id="user_id" name="user_id" type="text" value="${input.filter.userId}" autocomplete="off">
<button type="submit" class="button-secondary">${t("admin.audit.filter")}</button>
</form>
${auditTable(view, input.events, t("admin.nav.audit"))}
${input.nextHref ? html`<p><a href="${input.nextHref}" rel="next">${t("admin.next")}</a></p>` : ""}`,
  );
}
