// The JSON-schema pieces the interaction and password reset routes share.

/** An interaction's uid, as oidc-provider makes them. */
export const UID_PATTERN = "^[A-Za-z0-9_-]{1,64}$";
/** No control characters: no address has one, and PostgreSQL text cannot hold NUL (a lookup, rate-limit key or audit row with one would fail as a server error). */
export const EMAIL_FIELD = { type: "string", maxLength: 320, pattern: "^[^\\u0000-\\u001f\\u007f]*$" } as const;
export const CSRF_FIELD = { type: "string", maxLength: 256 } as const;
