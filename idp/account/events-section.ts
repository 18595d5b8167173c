// The account page's recent security events: the person's last entries in the audit trail (sign-ins,
// failures, locks, credential changes, sign-outs), newest first, with when and from which address.
import type { AuditStore } from "../store/audit.ts";
import { html } from "../pages/html.ts";
import { messagePattern, type MessageId } from "../pages/i18n.ts";
import { accountSection, formatTime } from "../pages/account.ts";
import type { View } from "../pages/layout.ts";
import type { AccountSection } from "./sections.ts";

const SHOWN = 20;

/** The event's words (account.event.<name> in the catalogue; a feature adds its own), else its name. */
function eventLabel(view: View, event: string): string {
  const id = `account.event.${event}` as MessageId;
  return messagePattern(view.locale, id) === id ? event : view.t(id);
}

export function eventsSection(deps: { audit: Pick<AuditStore, "list"> }): AccountSection {
  return {
    id: "events",
    order: 90,
    async render({ view, user }) {
      const { t } = view;
      // By email too: failed sign-ins with this address are recorded before anyone knows who it is.
      const events = (await deps.audit.list({ email: user.email, limit: SHOWN })).reverse();
      const body = events.length
        ? html`<ul class="account-list">${events.map(
            (event) => html`<li><span><strong>${eventLabel(view, event.event)}</strong><br><span class="muted">${formatTime(view, event.occurredAt)}${
              event.ip ? html` · ${t("account.events.from", { ip: event.ip })}` : ""
            }</span></span></li>`,
          )}</ul>`
        : html`<p class="muted">${t("account.events.none")}</p>`;
      return accountSection("events", t("account.events.heading"), body);
    },
  };
}
