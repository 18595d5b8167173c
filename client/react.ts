// The React side: useIdpAuth(auth) is the `useAuth` that ConvexProviderWithAuth wants.
import { useCallback, useEffect, useMemo, useSyncExternalStore } from "react";
import type { IdpAuth } from "./idp-auth.ts";

export function useIdpAuth(auth: IdpAuth) {
  const state = useSyncExternalStore(auth.subscribe, auth.getState, auth.getState);

  // Restores a session kept in this tab (a stored refresh token) once, on mount.
  useEffect(() => {
    if (auth.getState().isLoading) void auth.fetchToken({ forceRefreshToken: true }).catch(() => {});
  }, [auth]);

  // Stable identity: Convex resets authentication whenever fetchAccessToken changes.
  const fetchAccessToken = useCallback(
    (args: { forceRefreshToken: boolean }) => auth.fetchToken(args),
    [auth],
  );

  return useMemo(
    () => ({ isLoading: state.isLoading, isAuthenticated: state.isAuthenticated, fetchAccessToken }),
    [state.isLoading, state.isAuthenticated, fetchAccessToken],
  );
}
