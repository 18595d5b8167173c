// An example Convex web app that signs its users in with convex-idp: the browser client module
// (client/idp-auth.ts) does authorization code + PKCE by redirect, and its ID token is what Convex
// receives. Without VITE_CONVEX_URL the app shows the identity Convex would derive from that token;
// with it, the app also asks a real deployment (users:current, users:store).
import { Component, StrictMode, useEffect, useRef, useState, type ReactNode } from "react";
import { createRoot } from "react-dom/client";
import { ConvexProviderWithAuth, ConvexReactClient, useConvexAuth, useMutation, useQuery } from "convex/react";
import { makeFunctionReference } from "convex/server";
import { decodeJwt, type JWTPayload } from "jose";
import { createIdpAuth, type IdpAuth } from "../../../client/idp-auth.ts";
import { useIdpAuth } from "../../../client/react.ts";

const issuer = import.meta.env.VITE_IDP_ISSUER || "http://localhost:3000/oidc";
const clientId = import.meta.env.VITE_IDP_CLIENT_ID || "example-app";
const convexUrl = import.meta.env.VITE_CONVEX_URL || undefined;

const CALLBACK_PATH = "/callback";
const origin = window.location.origin;

// Both URIs must be registered for the client at the IdP (see README.md).
const auth = createIdpAuth({
  issuer,
  clientId,
  redirectUri: `${origin}${CALLBACK_PATH}`,
  postLogoutRedirectUri: `${origin}/`,
});

declare global {
  interface Window {
    idpAuth: IdpAuth;
  }
}
// For the end-to-end test (test/e2e/browser.test.ts): it asks for the very token this app would hand
// Convex and checks it the way the Convex backend does. It exposes nothing new: any script running
// on this page could already read the refresh token in sessionStorage.
window.idpAuth = auth;

// The app's functions are referenced by name, so the example needs no convex/_generated code.
const currentUser = makeFunctionReference<"query">("users:current");
const storeUser = makeFunctionReference<"mutation">("users:store");

const convex = convexUrl ? new ConvexReactClient(convexUrl) : undefined;

// ConvexProviderWithAuth calls this as a hook; useIdpAuth returns a memoised object with a stable
// fetchAccessToken, as Convex requires.
function useAuthFromIdp() {
  return useIdpAuth(auth);
}

// ------------------------------------------------------------------------------------ the redirect

/** On the redirect URI: exchanges the code, then shows the page the user started from. */
async function completeSignIn(): Promise<string | undefined> {
  if (window.location.pathname !== CALLBACK_PATH) return undefined;
  try {
    const returnTo = await auth.handleRedirectCallback();
    window.history.replaceState(null, "", localPath(returnTo));
    return undefined;
  } catch (error) {
    window.history.replaceState(null, "", "/");
    return `Sign-in failed: ${describe(error)}`;
  }
}

/** Only a path of this origin, and never the callback itself. */
function localPath(returnTo: string | null): string {
  if (!returnTo) return "/";
  const url = URL.parse(returnTo, origin);
  if (!url || url.origin !== origin || url.pathname === CALLBACK_PATH) return "/";
  return url.pathname + url.search + url.hash;
}

function describe(error: unknown): string {
  if (error && typeof error === "object") {
    // oauth4webapi's AuthorizationResponseError / ResponseBodyError carry the OAuth error fields.
    const { error: code, error_description: description } = error as { error?: unknown; error_description?: unknown };
    if (typeof description === "string" && description) return description;
    if (typeof code === "string" && code) return code === "access_denied" ? "you cancelled it" : code;
    if (error instanceof Error) return error.message;
  }
  return String(error);
}

// ------------------------------------------------------------------------------------- the pages

function App({ signInError }: { signInError?: string }) {
  const { isLoading, isAuthenticated } = useIdpAuth(auth);
  return (
    <main>
      <h1>convex-idp example</h1>
      {signInError && (
        <p className="error" role="alert">
          {signInError}
        </p>
      )}
      {isLoading ? <p role="status">Loading…</p> : isAuthenticated ? <SignedIn /> : <SignedOut />}
    </main>
  );
}

function SignedOut() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const signIn = () => {
    setBusy(true);
    setError(undefined);
    auth.signIn({ returnTo: window.location.pathname + window.location.search }).catch((reason: unknown) => {
      setBusy(false);
      setError(`Could not reach the identity provider: ${describe(reason)}`);
    });
  };
  return (
    <>
      <p>You are signed out.</p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="button" onClick={signIn} disabled={busy}>
        Sign in
      </button>
    </>
  );
}

function SignedIn() {
  const claims = useIdTokenClaims();
  const [busy, setBusy] = useState(false);
  const signOut = () => {
    setBusy(true);
    auth.signOut().catch(() => setBusy(false));
  };
  if (!claims) return <p role="status">Loading…</p>;
  const email = typeof claims.email === "string" ? claims.email : undefined;
  return (
    <>
      <p>
        Signed in as <strong>{email ?? claims.sub}</strong>
      </p>
      <section aria-labelledby="identity-heading">
        <h2 id="identity-heading">Identity Convex would see</h2>
        <p className="muted">
          What <code>ctx.auth.getUserIdentity()</code> returns for this ID token with the <code>customJwt</code>{" "}
          provider in <code>convex/auth.config.ts</code>.
        </p>
        <Identity claims={claims} />
      </section>
      {convex && (
        <section aria-labelledby="convex-heading">
          <h2 id="convex-heading">Convex</h2>
          <ErrorBoundary>
            <ConvexPanel />
          </ErrorBoundary>
        </section>
      )}
      <button type="button" onClick={signOut} disabled={busy}>
        Sign out
      </button>
    </>
  );
}

/** The claims of the current ID token (the token fetchToken hands Convex). */
function useIdTokenClaims(): JWTPayload | undefined {
  const [claims, setClaims] = useState<JWTPayload>();
  useEffect(() => {
    let live = true;
    auth.fetchToken().then(
      (token) => live && setClaims(token ? decodeJwt(token) : undefined),
      () => {},
    );
    return () => {
      live = false;
    };
  }, []);
  return claims;
}

/** The customJwt form: registered claims become subject/issuer/tokenIdentifier, others keep their names. */
function Identity({ claims }: { claims: JWTPayload }) {
  const identity: Array<[string, unknown]> = [
    ["subject", claims.sub],
    ["issuer", claims.iss],
    ["tokenIdentifier", `${claims.iss}|${claims.sub}`],
    ["email", claims.email],
    ["email_verified", claims.email_verified],
    ["name", claims.name],
  ];
  return (
    <dl className="identity">
      {identity.map(([field, value]) => (
        <div key={field}>
          <dt>{field}</dt>
          <dd>
            <code>{value === undefined ? "(absent)" : JSON.stringify(value)}</code>
          </dd>
        </div>
      ))}
    </dl>
  );
}

function ConvexPanel() {
  const { isLoading, isAuthenticated } = useConvexAuth();
  const store = useMutation(storeUser);
  const user: unknown = useQuery(currentUser, isAuthenticated ? {} : "skip");
  const [storeResult, setStoreResult] = useState<string>();
  const stored = useRef(false);

  // Records the user once per page load, as soon as Convex has accepted the token.
  useEffect(() => {
    if (!isAuthenticated || stored.current) return;
    stored.current = true;
    store({}).then(
      () => setStoreResult("users:store done"),
      (error: unknown) => setStoreResult(`users:store failed: ${describe(error)}`),
    );
  }, [isAuthenticated, store]);

  if (isLoading) return <p role="status">Connecting to Convex…</p>;
  if (!isAuthenticated) {
    return (
      <p className="error" role="alert">
        Convex did not accept the token: check <code>convex/auth.config.ts</code> and the deployment's environment
        variables.
      </p>
    );
  }
  return (
    <>
      <p role="status">{storeResult ?? "Storing the user…"}</p>
      <h3>
        <code>users:current</code>
      </h3>
      <pre>{user === undefined ? "Loading…" : JSON.stringify(user, null, 2)}</pre>
    </>
  );
}

class ErrorBoundary extends Component<{ children: ReactNode }, { error?: unknown }> {
  override state: { error?: unknown } = {};
  static getDerivedStateFromError(error: unknown) {
    return { error };
  }
  override render() {
    if (this.state.error === undefined) return this.props.children;
    return (
      <p className="error" role="alert">
        {describe(this.state.error)}
      </p>
    );
  }
}

function Root({ signInError }: { signInError?: string }) {
  const app = <App signInError={signInError} />;
  if (!convex) return app;
  return (
    <ConvexProviderWithAuth client={convex} useAuth={useAuthFromIdp}>
      {app}
    </ConvexProviderWithAuth>
  );
}

// ----------------------------------------------------------------------------------------- start

const root = createRoot(document.getElementById("root")!);
if (window.location.pathname === CALLBACK_PATH) root.render(<p role="status">Completing sign-in…</p>);
// The code is exchanged before React renders: it is single-use, and StrictMode runs effects twice.
void completeSignIn().then((signInError) =>
  root.render(
    <StrictMode>
      <Root signInError={signInError} />
    </StrictMode>,
  ),
);
