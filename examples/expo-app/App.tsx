// An Expo app that signs its users in with convex-idp (authorization code + PKCE in the system
// browser, RFC 8252) and hands the ID token to Convex. The token logic is src/tokens.ts; this file
// plugs expo-auth-session and expo-secure-store into it and draws three screens.
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { ActivityIndicator, Button, SafeAreaView, ScrollView, StyleSheet, Text, View } from "react-native";
import { StatusBar } from "expo-status-bar";
import * as AuthSession from "expo-auth-session";
import * as SecureStore from "expo-secure-store";
import * as WebBrowser from "expo-web-browser";
import { ConvexProviderWithAuth, ConvexReactClient, useConvexAuth, useMutation, useQuery } from "convex/react";
import { api } from "../../convex/_generated/api";
import { APP_SCHEME, NATIVE_REDIRECT_URI, SCOPES, createTokenSession, type Tokens } from "./src/tokens.ts";

// On web, closes the pop-up the sign-in ran in; on iOS and Android it does nothing.
WebBrowser.maybeCompleteAuthSession();

// EXPO_PUBLIC_* variables are inlined at bundle time (examples/expo-app/.env, see README.md).
const ISSUER = process.env.EXPO_PUBLIC_IDP_ISSUER ?? "https://idp.example.com/oidc";
const CLIENT_ID = process.env.EXPO_PUBLIC_IDP_CLIENT_ID ?? "expo-app";
const CONVEX_URL = process.env.EXPO_PUBLIC_CONVEX_URL;

// In a development or release build: com.example.convexidp:/callback, as registered. In Expo Go:
// exp://<the dev server>/--/callback, which must then be registered too (README.md).
const redirectUri = AuthSession.makeRedirectUri({ native: NATIVE_REDIRECT_URI, scheme: APP_SCHEME, path: "callback" });

// The token endpoint for refreshes, from the same discovery document useAutoDiscovery loads.
let discovery: Promise<AuthSession.DiscoveryDocument> | undefined;
function getDiscovery() {
  discovery ??= AuthSession.fetchDiscoveryAsync(ISSUER).catch((error: unknown) => {
    discovery = undefined;
    throw error;
  });
  return discovery;
}

const session = createTokenSession({
  storage: {
    get: (key) => SecureStore.getItemAsync(key),
    set: (key, value) => SecureStore.setItemAsync(key, value),
    delete: (key) => SecureStore.deleteItemAsync(key),
  },
  refresh: async (refreshToken): Promise<Tokens> =>
    await AuthSession.refreshAsync({ clientId: CLIENT_ID, refreshToken, scopes: [...SCOPES] }, await getDiscovery()),
});

const convex = CONVEX_URL ? new ConvexReactClient(CONVEX_URL, { unsavedChangesWarning: false }) : undefined;

/** The `useAuth` of ConvexProviderWithAuth: a memoised object with a stable fetchAccessToken, as Convex requires. */
function useIdpAuth() {
  const state = useSyncExternalStore(session.subscribe, session.getState);
  useEffect(() => {
    void session.restore();
  }, []);
  const fetchAccessToken = useCallback(
    (args: { forceRefreshToken: boolean }) => session.fetchAccessToken(args),
    [],
  );
  return useMemo(
    () => ({ isLoading: state.isLoading, isAuthenticated: state.isAuthenticated, fetchAccessToken }),
    [state.isLoading, state.isAuthenticated, fetchAccessToken],
  );
}

export default function App() {
  const content = <Screen />;
  return (
    <SafeAreaView style={styles.root}>
      <StatusBar style="auto" />
      {convex ? (
        <ConvexProviderWithAuth client={convex} useAuth={useIdpAuth}>
          {content}
        </ConvexProviderWithAuth>
      ) : (
        content
      )}
    </SafeAreaView>
  );
}

function Screen() {
  const { isLoading, isAuthenticated } = useIdpAuth();
  return (
    <ScrollView contentContainerStyle={styles.screen}>
      <Text style={styles.title}>convex-idp example</Text>
      {isLoading ? <ActivityIndicator /> : isAuthenticated ? <SignedIn /> : <SignedOut />}
    </ScrollView>
  );
}

function SignedOut() {
  const discoveryDocument = AuthSession.useAutoDiscovery(ISSUER);
  // PKCE (S256) is on by default; the state parameter is checked by expo-auth-session.
  const [request, response, promptAsync] = AuthSession.useAuthRequest(
    { clientId: CLIENT_ID, redirectUri, scopes: [...SCOPES], responseType: AuthSession.ResponseType.Code, usePKCE: true },
    discoveryDocument,
  );
  const [error, setError] = useState<string>();
  const exchanged = useRef<string>(undefined);

  useEffect(() => {
    if (!response) return;
    if (response.type === "error") setError(response.error?.description ?? response.error?.code ?? "Sign-in failed");
    if (response.type !== "success" || !request?.codeVerifier || !discoveryDocument) return;
    const code = response.params.code;
    // The code is single-use: exchange it once even if the effect runs again.
    if (!code || exchanged.current === code) return;
    exchanged.current = code;
    AuthSession.exchangeCodeAsync(
      { clientId: CLIENT_ID, code, redirectUri, extraParams: { code_verifier: request.codeVerifier } },
      discoveryDocument,
    )
      .then((tokens) => session.signIn(tokens))
      .catch((reason: unknown) => setError(reason instanceof Error ? reason.message : String(reason)));
  }, [response, request, discoveryDocument]);

  return (
    <View style={styles.section}>
      <Text>You are signed out.</Text>
      {!discoveryDocument && <Text style={styles.muted}>Reaching {ISSUER}…</Text>}
      {error && <Text style={styles.error}>{error}</Text>}
      <Button
        title="Sign in"
        disabled={!request}
        onPress={() => {
          setError(undefined);
          void promptAsync();
        }}
      />
    </View>
  );
}

function SignedIn() {
  const signOut = async () => {
    const refreshToken = session.currentRefreshToken();
    await session.signOut();
    // Ends the grant at the IdP too; the browser session there stays (no end_session round trip).
    if (refreshToken) {
      const doc = await getDiscovery().catch(() => undefined);
      if (doc?.revocationEndpoint) await AuthSession.revokeAsync({ clientId: CLIENT_ID, token: refreshToken }, doc).catch(() => {});
    }
  };
  return (
    <View style={styles.section}>
      <Text>Signed in.</Text>
      {convex ? <ConvexUser /> : <Text style={styles.muted}>Set EXPO_PUBLIC_CONVEX_URL to call Convex.</Text>}
      <Button title="Sign out" onPress={() => void signOut()} />
    </View>
  );
}

/** users:store once Convex accepted the token, then users:current: the document Convex keyed by the token's identity. */
function ConvexUser() {
  const { isLoading, isAuthenticated } = useConvexAuth();
  const store = useMutation(api.users.store);
  const user = useQuery(api.users.current, isAuthenticated ? {} : "skip");
  const [stored, setStored] = useState<string>();

  useEffect(() => {
    if (!isAuthenticated) return;
    store()
      .then(() => setStored("users:store done"))
      .catch((reason: unknown) => setStored(`users:store failed: ${reason instanceof Error ? reason.message : String(reason)}`));
  }, [isAuthenticated, store]);

  if (isLoading) return <ActivityIndicator />;
  if (!isAuthenticated) return <Text style={styles.error}>Convex did not accept the token (see README.md).</Text>;
  return (
    <View style={styles.section}>
      {stored && <Text style={styles.muted}>{stored}</Text>}
      {user === undefined ? (
        <ActivityIndicator />
      ) : user === null ? (
        <Text>No users document yet.</Text>
      ) : (
        <Text>
          {user.name ?? user.email ?? user.subject}
          {"\n"}
          <Text style={styles.muted}>{user.tokenIdentifier}</Text>
        </Text>
      )}
    </View>
  );
}

const styles = StyleSheet.create({
  root: { flex: 1 },
  screen: { padding: 24, gap: 16 },
  title: { fontSize: 22, fontWeight: "600" },
  section: { gap: 12 },
  muted: { color: "#666" },
  error: { color: "#b00020" },
});
