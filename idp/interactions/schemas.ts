// The JSON-schema pieces (and the one email check) the interaction, code, sign-up and password reset routes share.

/** An interaction's uid, as oidc-provider makes them. */
export const UID_PATTERN = "^[A-Za-z0-9_-]{1,64}$";
/** No control characters: no address has one, and PostgreSQL text cannot hold NUL (a lookup, rate-limit key or audit row with one would fail as a server error). */
export const EMAIL_FIELD = { type: "string", maxLength: 320, pattern: "^[^\\u0000-\\u001f\\u007f]*$" } as const;
export const CSRF_FIELD = { type: "string", maxLength: 256 } as const;

/** The params of every /interaction/:uid route. */
export const UID_PARAMS = { type: "object", required: ["uid"], properties: { uid: { type: "string", pattern: UID_PATTERN } } } as const;

/** A form post's body: these fields, and the CSRF token every form carries. */
export const formBody = (required: string[], properties: Record<string, object>) =>
  ({ type: "object", required: [...required, "_csrf"], properties: { ...properties, _csrf: CSRF_FIELD } }) as const;

/** Enough of an address to be worth a lookup or a mail, as the operator's check has it: name@domain.tld, no spaces. */
export const LOOKS_LIKE_EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
