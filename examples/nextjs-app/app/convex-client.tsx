"use client";
// The browser's Convex client, signed in with the ID token the server rendered the page with. When
// Convex asks for a fresh token (shortly before this one expires), POST /token refreshes on the
// server and returns the new ID token; the refresh token stays in the sealed cookie.
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";
import { ConvexProviderWithAuth, ConvexReactClient, usePreloadedQuery, type Preloaded } from "convex/react";
import type { api } from "../../../convex/_generated/api.js";

const ServerToken = createContext<string | null>(null);

export function ConvexClientProvider({ url, idToken, children }: { url: string; idToken: string; children: ReactNode }) {
  const [client] = useState(() => new ConvexReactClient(url));
  return (
    <ServerToken.Provider value={idToken}>
      <ConvexProviderWithAuth client={client} useAuth={useAuthFromServer}>
        {children}
      </ConvexProviderWithAuth>
    </ServerToken.Provider>
  );
}

// ConvexProviderWithAuth calls this as a hook; fetchAccessToken keeps its identity across renders,
// as Convex requires (a new function resets its authentication).
function useAuthFromServer() {
  const idToken = useContext(ServerToken);
  const latest = useRef(idToken);
  const fetchAccessToken = useCallback(async ({ forceRefreshToken }: { forceRefreshToken: boolean }) => {
    if (!forceRefreshToken) return latest.current;
    const response = await fetch("/token", { method: "POST" });
    if (!response.ok) return null;
    const { idToken: fresh } = (await response.json()) as { idToken: string | null };
    latest.current = fresh;
    return fresh;
  }, []);
  return useMemo(
    () => ({ isLoading: false, isAuthenticated: idToken !== null, fetchAccessToken }),
    [idToken, fetchAccessToken],
  );
}

/** The server's answer at once, then Convex's live one once the client is connected. */
export function LiveViewer({ preloaded }: { preloaded: Preloaded<typeof api.users.viewer> }) {
  const viewer = usePreloadedQuery(preloaded);
  return <p data-testid="live-viewer">Convex client: {viewer ? (viewer.email ?? viewer.subject) : "signed out"}</p>;
}
