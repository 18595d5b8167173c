// How a person signed in, as the tokens say it: RFC 8176 method references (`amr`) and the levels
// this IdP publishes in acr_values_supported (`acr`). Every way of signing in reports its methods
// here, so the claims mean the same whichever page or factor produced them.

/** RFC 8176 values we use, plus `email` for a code or link sent by mail. */
export type AuthenticationMethod = "pwd" | "otp" | "sms" | "email" | "hwk" | "swk" | "user" | "pin" | "mfa" | "fed";

/** 1fa: one factor; mfa: two factor kinds, or a user-verified passkey; phr: a user-verified passkey (phishing-resistant). */
export type AuthenticationLevel = "1fa" | "mfa" | "phr";

export const AUTHENTICATION_LEVELS: readonly AuthenticationLevel[] = ["1fa", "mfa", "phr"];

/** The acr values, `urn:<issuer-host>:acr:<level>`, weakest first; published in discovery. */
export function acrValues(issuer: string): string[] {
  return AUTHENTICATION_LEVELS.map((level) => acrOf(issuer, level));
}

export function acrOf(issuer: string, level: AuthenticationLevel): string {
  return `urn:${new URL(issuer).host}:acr:${level}`;
}

/** The level an acr value names, or undefined for one that is not ours. */
export function levelOfAcr(issuer: string, acr: unknown): AuthenticationLevel | undefined {
  return AUTHENTICATION_LEVELS.find((level) => acr === acrOf(issuer, level));
}

// What kind of factor each method is: two different kinds make a second factor.
const KIND: Partial<Record<AuthenticationMethod, "knowledge" | "possession">> = {
  pwd: "knowledge",
  otp: "possession",
  sms: "possession",
  email: "possession",
  hwk: "possession",
  swk: "possession",
  // `fed` is no kind of factor: an upstream sign-in proves only what the upstream checked, and
  // counting it would make any upstream account plus a password a second factor.
};

/** A key-based method (a passkey) whose authenticator verified the person (PIN or biometrics). */
function userVerifiedKey(methods: ReadonlySet<AuthenticationMethod>): boolean {
  return (methods.has("hwk") || methods.has("swk")) && (methods.has("user") || methods.has("pin"));
}

/**
 * The methods of a sign-in, deduplicated and in a stable order, with `mfa` added when two factor
 * kinds were used or a user-verified passkey was (which is two factors in one: the key and the PIN).
 */
export function completeMethods(used: Iterable<AuthenticationMethod>): AuthenticationMethod[] {
  const methods = new Set(used);
  methods.delete("mfa");
  const kinds = new Set([...methods].map((method) => KIND[method]).filter((kind) => kind !== undefined));
  if (kinds.size >= 2 || userVerifiedKey(methods)) methods.add("mfa");
  return [...methods].sort();
}

/** The level a set of methods reaches. */
export function levelOf(methods: Iterable<AuthenticationMethod>): AuthenticationLevel {
  const set = new Set(methods);
  if (userVerifiedKey(set)) return "phr";
  return completeMethods(set).includes("mfa") ? "mfa" : "1fa";
}

/** Whether `reached` satisfies a request for `wanted` (phr satisfies mfa, mfa satisfies 1fa). */
export function levelSatisfies(reached: AuthenticationLevel, wanted: AuthenticationLevel): boolean {
  return AUTHENTICATION_LEVELS.indexOf(reached) >= AUTHENTICATION_LEVELS.indexOf(wanted);
}
