/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The IdP's issuer, exactly as it is configured there. Default http://localhost:3000/oidc. */
  readonly VITE_IDP_ISSUER?: string;
  /** The public client registered for this app. Default "example-app". */
  readonly VITE_IDP_CLIENT_ID?: string;
  /** A Convex deployment URL; when set, the app signs in to Convex with the ID token. */
  readonly VITE_CONVEX_URL?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
