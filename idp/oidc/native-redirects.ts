// Which redirect URIs a mobile or desktop app (RFC 8252) may register, and how a loopback one is
// matched: registered without a port, any port is accepted (§7.3); registered with one, only that.
// oidc-provider relaxes the port of every loopback URI of a native client, even one registered
// with a port; installNativeRedirectMatching narrows that to what the operator registered.
import type Provider from "oidc-provider";

/** The loopback hosts a native app may use. Not `localhost`: RFC 8252 §8.3 advises against it (it may resolve elsewhere, or to the other IP family than the app listens on). */
export const NATIVE_LOOPBACK_HOSTS = ["127.0.0.1", "[::1]"] as const;

/** A private-use URI scheme in reverse-domain form (RFC 8252 §7.1): at least one dot, lower case. */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*(?:\.[a-z0-9+-]+)+:$/;

/**
 * Why `uri` cannot be a native app's redirect URI, or undefined when it can: a private-use scheme
 * (com.example.app:/callback), a claimed https link, or http on 127.0.0.1 or [::1], with or
 * without a port.
 */
export function nativeRedirectUriProblem(uri: string): string | undefined {
  const url = URL.parse(uri);
  if (!url) return `"${uri}" is not an absolute URI`;
  if (url.hash || uri.includes("#")) return `"${uri}" must not contain a fragment`;
  if (url.protocol === "http:") {
    if (url.hostname === "localhost") return `"${uri}": use http://127.0.0.1 or http://[::1] rather than localhost for a native app (RFC 8252 §8.3)`;
    if (!(NATIVE_LOOPBACK_HOSTS as readonly string[]).includes(url.hostname)) return `"${uri}": a native app's http redirect must go to the loopback address 127.0.0.1 or [::1]`;
    if (url.username || url.password) return `"${uri}" must not contain a user name or password`;
    return undefined;
  }
  if (url.protocol === "https:") {
    if (["localhost", ...NATIVE_LOOPBACK_HOSTS].includes(url.hostname)) return `"${uri}": a loopback redirect uses http (RFC 8252 §7.3)`;
    return undefined;
  }
  if (!PRIVATE_USE_SCHEME.test(url.protocol)) {
    return `"${uri}" must be https, http on 127.0.0.1 or [::1], or a reverse-domain app scheme such as com.example.app:/callback`;
  }
  return undefined;
}

const LOOPBACK_WITH_PORT = /^(http:\/\/(?:127\.0\.0\.1|\[::1\])):(\d{1,5})([/?].*)?$/;

/**
 * Whether `value` is allowed by `registered`: an exact match, or, for a native app, a loopback URI
 * whose registered form has no port and which differs from it only by a port. Compared as strings,
 * so no normalisation can make two different URIs equal.
 */
export function redirectAllowed(registered: readonly string[], value: string, native: boolean): boolean {
  if (registered.includes(value)) return true;
  if (!native) return false;
  const match = LOOPBACK_WITH_PORT.exec(value);
  if (!match) return false;
  const port = Number(match[2]);
  if (port < 1 || port > 65535 || match[2]!.startsWith("0")) return false;
  return registered.includes(match[1]! + (match[3] ?? ""));
}

type ClientInstance = { applicationType?: string; redirectUris?: string[]; postLogoutRedirectUris?: string[] };

/** Replaces the provider's redirect matching with redirectAllowed (for authorization, token and sign-out alike). */
export function installNativeRedirectMatching(provider: Provider): void {
  const prototype = provider.Client.prototype as unknown as {
    redirectUriAllowed(value: string): boolean;
    postLogoutRedirectUriAllowed(value: string): boolean;
  };
  prototype.redirectUriAllowed = function (this: ClientInstance, value: string) {
    return redirectAllowed(this.redirectUris ?? [], value, this.applicationType === "native");
  };
  prototype.postLogoutRedirectUriAllowed = function (this: ClientInstance, value: string) {
    return redirectAllowed(this.postLogoutRedirectUris ?? [], value, this.applicationType === "native");
  };
}
