// The mails the IdP sends, as plain text and HTML from the same message catalogue as the pages
// (idp/pages/messages/), branded like them: the organisation's name and logo, and its colour on
// the one button. HTML mail gets inline styles only (mail clients drop stylesheets) and escapes
// everything through html``.
import { html, type Html } from "../pages/html.ts";
import { translator, type Locale, type MessageId, type Translate } from "../pages/i18n.ts";
import { schemeColors, type Brand } from "../pages/brand.ts";

/** How long a reset link works. */
export const RESET_LINK_TTL_SECONDS = 15 * 60;
/**
 * How long an email verification link works: a day, since it comes unasked (an operator sends it)
 * and may wait in an inbox overnight; it proves only that the address is read, no password.
 */
export const VERIFICATION_LINK_TTL_SECONDS = 24 * 60 * 60;
/** How long an invitation link works: a week, since it comes unasked and creating an account can wait for a free moment. */
export const INVITATION_LINK_TTL_SECONDS = 7 * 24 * 60 * 60;

/** Each template and the values it is queued with (sealed in the outbox). */
export type MailTemplates = {
  password_reset: { token: string };
  password_changed: { changedAt: string };
  sign_in_code: { code: string; token: string };
  sign_up_code: { code: string; token: string };
  sign_up_existing: Record<string, never>;
  email_verification: { token: string };
  invitation: { token: string; name?: string };
  security_notice: { change: string; changedAt: string };
};
export type TemplateName = keyof MailTemplates;

export type RenderedMail = { subject: string; text: string; html: string; links: string[] };

/** What every mail needs besides its values: language, brand, and the public origin for links. */
export type MailContext = {
  locale: Locale;
  brand: Brand;
  origin: string;
  /** Whether /reset exists (PASSWORD_RESET): mails link to it only then. */
  passwordReset?: boolean;
};

export class MailTemplateError extends Error {
  override name = "MailTemplateError";
}

/** How long a one-time code (by mail, with its link, or by SMS) works: the flows and the messages read it here. */
export const CODE_TTL_SECONDS = 10 * 60;
const CODE_TTL_MINUTES = CODE_TTL_SECONDS / 60;

/** The path a code mail's link opens (sign-in and sign-up alike: the link's code says which). */
export function emailLinkPath(token: string): string {
  return `/email-link/${token}`;
}

/** The path a reset link opens. */
export function resetLinkPath(token: string): string {
  return `/reset/${token}`;
}

/** The path an email verification link opens. */
export function verifyEmailLinkPath(token: string): string {
  return `/verify-email/${token}`;
}

/** The path an invitation link opens. */
export function invitationLinkPath(token: string): string {
  return `/invite/${token}`;
}

/** The changes a security notice names (each has its sentence in the catalogues); others read as "changed". */
const SECURITY_CHANGES = {
  totp_enrolled: "mail.securityNotice.change.totp_enrolled",
  totp_removed: "mail.securityNotice.change.totp_removed",
  recovery_codes_regenerated: "mail.securityNotice.change.recovery_codes_regenerated",
  mfa_reset: "mail.securityNotice.change.mfa_reset",
  passkey_added: "mail.securityNotice.change.passkey_added",
  passkey_removed: "mail.securityNotice.change.passkey_removed",
  identity_linked: "mail.securityNotice.change.identity_linked",
  identity_unlinked: "mail.securityNotice.change.identity_unlinked",
} as const satisfies Record<string, MessageId>;
export type SecurityChange = keyof typeof SECURITY_CHANGES;

type Body = {
  subject: string;
  heading: string;
  before: string[];
  /** A one-time code, shown large (and first in the subject, so it shows in notifications). */
  code?: string;
  action?: { label: string; url: string };
  after: string[];
};

const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const CODE = /^[0-9]{6}$/;

function codeAndLink(values: Record<string, unknown>, name: string): { code: string; token: string } {
  if (typeof values.code !== "string" || !CODE.test(values.code)) throw new MailTemplateError(`${name} needs a code`);
  if (typeof values.token !== "string" || !TOKEN.test(values.token)) throw new MailTemplateError(`${name} needs a token`);
  return { code: values.code, token: values.token };
}

function bodyOf(name: string, values: Record<string, unknown>, t: Translate, context: MailContext): Body {
  const brand = context.brand.name;
  switch (name) {
    case "password_reset": {
      if (typeof values.token !== "string" || !TOKEN.test(values.token)) throw new MailTemplateError("password_reset needs a token");
      return {
        subject: t("mail.passwordReset.subject", { brand }),
        heading: t("mail.passwordReset.subject", { brand }),
        before: [t("mail.passwordReset.intro", { brand })],
        action: { label: t("mail.passwordReset.action"), url: `${context.origin}${resetLinkPath(values.token)}` },
        after: [t("mail.passwordReset.expiry", { minutes: RESET_LINK_TTL_SECONDS / 60 }), t("mail.passwordReset.ignore")],
      };
    }
    case "password_changed": {
      const changedAt = typeof values.changedAt === "string" ? new Date(values.changedAt) : undefined;
      if (!changedAt || Number.isNaN(changedAt.getTime())) throw new MailTemplateError("password_changed needs changedAt");
      const time = new Intl.DateTimeFormat(context.locale, { dateStyle: "long", timeStyle: "short", timeZone: "UTC" }).format(changedAt);
      return {
        subject: t("mail.passwordChanged.subject", { brand }),
        heading: t("mail.passwordChanged.subject", { brand }),
        before: [t("mail.passwordChanged.body", { brand, time }), t("mail.passwordChanged.notYou")],
        action: { label: t("mail.passwordChanged.action"), url: `${context.origin}/reset` },
        after: [],
      };
    }
    case "sign_in_code": {
      const { code, token } = codeAndLink(values, name);
      return {
        subject: t("mail.signInCode.subject", { brand, code }),
        heading: t("mail.signInCode.heading", { brand }),
        before: [t("mail.signInCode.intro", { brand })],
        code,
        action: { label: t("mail.signInCode.action"), url: `${context.origin}${emailLinkPath(token)}` },
        after: [t("mail.code.expiry", { minutes: CODE_TTL_MINUTES }), t("mail.signInCode.ignore")],
      };
    }
    case "sign_up_code": {
      const { code, token } = codeAndLink(values, name);
      return {
        subject: t("mail.signUpCode.subject", { brand, code }),
        heading: t("mail.signUpCode.heading", { brand }),
        before: [t("mail.signUpCode.intro", { brand })],
        code,
        action: { label: t("mail.signUpCode.action"), url: `${context.origin}${emailLinkPath(token)}` },
        after: [t("mail.code.expiry", { minutes: CODE_TTL_MINUTES }), t("mail.signUpCode.ignore")],
      };
    }
    case "sign_up_existing":
      return {
        subject: t("mail.signUpExisting.subject", { brand }),
        heading: t("mail.signUpExisting.subject", { brand }),
        before: [t("mail.signUpExisting.body", { brand })],
        // "Choose a new password" only where /reset exists (PASSWORD_RESET); else the body's "sign in" stands alone.
        action: context.passwordReset === false ? undefined : { label: t("mail.signUpExisting.action"), url: `${context.origin}/reset` },
        after: [t("mail.signUpExisting.ignore")],
      };
    case "email_verification": {
      if (typeof values.token !== "string" || !TOKEN.test(values.token)) throw new MailTemplateError("email_verification needs a token");
      return {
        subject: t("mail.emailVerification.subject", { brand }),
        heading: t("mail.emailVerification.subject", { brand }),
        before: [t("mail.emailVerification.intro", { brand })],
        action: { label: t("mail.emailVerification.action"), url: `${context.origin}${verifyEmailLinkPath(values.token)}` },
        after: [t("mail.emailVerification.expiry", { hours: VERIFICATION_LINK_TTL_SECONDS / 3600 }), t("mail.emailVerification.ignore", { brand })],
      };
    }
    case "invitation": {
      if (typeof values.token !== "string" || !TOKEN.test(values.token)) throw new MailTemplateError("invitation needs a token");
      const name = typeof values.name === "string" && values.name !== "" ? values.name : undefined;
      return {
        subject: t("mail.invitation.subject", { brand }),
        heading: t("mail.invitation.heading", { brand }),
        before: [...(name ? [t("mail.invitation.greeting", { name })] : []), t("mail.invitation.intro", { brand })],
        action: { label: t("mail.invitation.action"), url: `${context.origin}${invitationLinkPath(values.token)}` },
        after: [t("mail.invitation.expiry", { days: INVITATION_LINK_TTL_SECONDS / 86_400 }), t("mail.invitation.ignore")],
      };
    }
    case "security_notice": {
      // A sign-in method changed (accounts/security-notices.ts); an unknown change reads as "changed".
      const changedAt = typeof values.changedAt === "string" ? new Date(values.changedAt) : undefined;
      if (!changedAt || Number.isNaN(changedAt.getTime())) throw new MailTemplateError("security_notice needs changedAt");
      const known = typeof values.change === "string" && Object.hasOwn(SECURITY_CHANGES, values.change);
      const change = t(known ? SECURITY_CHANGES[values.change as SecurityChange] : "mail.securityNotice.change.other");
      const time = new Intl.DateTimeFormat(context.locale, { dateStyle: "long", timeStyle: "short", timeZone: "UTC" }).format(changedAt);
      return {
        subject: t("mail.securityNotice.subject", { brand }),
        heading: t("mail.securityNotice.subject", { brand }),
        before: [t("mail.securityNotice.body", { time, change }), t("mail.securityNotice.notYou")],
        after: [],
      };
    }
    default:
      throw new MailTemplateError(`no mail template ${JSON.stringify(name)}`);
  }
}

function textOf(body: Body, t: Translate, brand: string): string {
  const lines = [brand, "", body.heading, "", ...body.before.flatMap((line) => [line, ""])];
  if (body.code) lines.push(`    ${body.code}`, "");
  if (body.action) lines.push(`${body.action.label}:`, body.action.url, "");
  for (const line of body.after) lines.push(line, "");
  lines.push("-- ", t("mail.footer", { brand }));
  return lines.join("\n") + "\n";
}

function htmlOf(body: Body, t: Translate, context: MailContext): string {
  const { brand } = context;
  const colors = schemeColors(brand.color).light;
  const logo = brand.logoUrl ? (brand.logoUrl.startsWith("/") ? `${context.origin}${brand.logoUrl}` : brand.logoUrl) : undefined;
  const paragraph = (text: string): Html => html`<p style="margin:0 0 16px">${text}</p>`;
  const action = body.action
    ? html`<p style="margin:24px 0"><a href="${body.action.url}" style="display:inline-block;background:${colors.accent};color:${colors.onAccent};padding:12px 20px;border-radius:8px;font-weight:600;text-decoration:none">${body.action.label}</a></p>
<p style="margin:0 0 16px;font-size:14px;color:#4b5563">${t("mail.linkFallback")}<br><a href="${body.action.url}" style="color:${colors.link};word-break:break-all">${body.action.url}</a></p>`
    : html``;
  return html`<!doctype html>
<html lang="${context.locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${body.subject}</title>
</head>
<body style="margin:0;padding:24px 12px;background:#f3f4f6;color:#1b1f24;font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans','Noto Sans JP',sans-serif;line-height:1.5">
<table role="presentation" width="100%" cellspacing="0" cellpadding="0" border="0"><tr><td align="center">
<table role="presentation" width="100%" cellspacing="0" cellpadding="0" border="0" style="max-width:32rem;background:#ffffff;border:1px solid #8a94a3;border-radius:12px">
<tr><td style="padding:24px">
<p style="margin:0 0 24px;font-size:18px;font-weight:600">${logo ? html`<img src="${logo}" alt="" height="32" style="vertical-align:middle;margin-right:8px">` : ""}${brand.name}</p>
<h1 style="margin:0 0 16px;font-size:22px;line-height:1.25">${body.heading}</h1>
${body.before.map(paragraph)}
${body.code ? html`<p style="margin:8px 0 24px;font-size:32px;font-weight:700;letter-spacing:6px;font-family:ui-monospace,Menlo,Consolas,monospace">${body.code}</p>` : ""}
${action}
${body.after.map(paragraph)}
<p style="margin:24px 0 0;padding-top:16px;border-top:1px solid #d1d5db;font-size:13px;color:#4b5563">${t("mail.footer", { brand: brand.name })}</p>
</td></tr>
</table>
</td></tr></table>
</body>
</html>
`.value;
}

/** A queued mail's subject, text and HTML in its language, and the links it carries (for the development log). */
export function renderMail(name: string, values: Record<string, unknown>, context: MailContext): RenderedMail {
  const t = translator(context.locale);
  const body = bodyOf(name, values, t, context);
  return {
    subject: body.subject,
    text: textOf(body, t, context.brand.name),
    html: htmlOf(body, t, context),
    links: body.action ? [body.action.url] : [],
  };
}
