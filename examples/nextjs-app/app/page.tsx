// The one page, rendered on the server for every request: signed out, a link to /login; signed in,
// what Convex's users:viewer query returns for the session's ID token (fetchQuery, on the server),
// and the same query preloaded for the browser's Convex client (preloadQuery), which keeps it live.
import { cookies } from "next/headers";
import { fetchQuery, preloadQuery } from "convex/nextjs";
import { api } from "../../../convex/_generated/api.js";
import { sessionCookieName } from "../lib/sealed-cookies";
import { readSession } from "../lib/session";
import { settings } from "../lib/settings";
import { ConvexClientProvider, LiveViewer } from "./convex-client";

export default async function Home({ searchParams }: { searchParams: Promise<{ error?: string }> }) {
  const { error } = await searchParams;
  const session = await readSession((await cookies()).get(sessionCookieName())?.value);
  return (
    <main>
      <h1>convex-idp Next.js example</h1>
      {error === "sign-in-failed" && <p role="alert">Sign-in failed. Try again.</p>}
      {session ? <SignedIn idToken={session.idToken} /> : <SignedOut />}
    </main>
  );
}

function SignedOut() {
  return (
    <>
      <p>You are signed out.</p>
      {/* A plain link, not <Link>: /login answers with a redirect to the IdP, which must not be prefetched. */}
      <a href="/login">Sign in</a>
    </>
  );
}

async function SignedIn({ idToken }: { idToken: string }) {
  const url = settings().convexUrl;
  if (!url) return <p role="alert">CONVEX_URL is not set: there is no Convex deployment to ask.</p>;
  const options = { token: idToken, url };
  let viewer: Awaited<ReturnType<typeof fetchQuery<typeof api.users.viewer>>>;
  let preloaded: Awaited<ReturnType<typeof preloadQuery<typeof api.users.viewer>>>;
  try {
    [viewer, preloaded] = await Promise.all([
      fetchQuery(api.users.viewer, {}, options),
      preloadQuery(api.users.viewer, {}, options),
    ]);
  } catch {
    return (
      <p role="alert">
        Convex did not answer users:viewer with this token: check <code>convex/auth.config.ts</code> and the
        deployment&apos;s environment variables.
      </p>
    );
  }
  return (
    <>
      <section aria-labelledby="server-heading">
        <h2 id="server-heading">Rendered on the server</h2>
        {viewer ? (
          <p>
            Signed in as <strong>{viewer.email ?? viewer.subject}</strong>
          </p>
        ) : (
          <p>Convex does not know who you are (users:viewer returned null).</p>
        )}
        <dl>
          <dt>subject</dt>
          <dd data-field="subject">{viewer?.subject}</dd>
          <dt>tokenIdentifier</dt>
          <dd data-field="tokenIdentifier">{viewer?.tokenIdentifier}</dd>
        </dl>
      </section>
      <section aria-labelledby="client-heading">
        <h2 id="client-heading">In the browser</h2>
        <ConvexClientProvider url={url} idToken={idToken}>
          <LiveViewer preloaded={preloaded} />
        </ConvexClientProvider>
      </section>
      <form action="/logout" method="post">
        <button type="submit">Sign out</button>
      </form>
    </>
  );
}
