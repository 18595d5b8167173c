// Vite 8 compiles .tsx itself (Oxc); no React plugin is needed, and none is installed. Without the
// plugin there is no Fast Refresh: an edit reloads the page, which keeps the session (the refresh
// token is in sessionStorage).
import { defineConfig } from "vite";

export default defineConfig({
  // React 17+'s automatic JSX runtime (Vite 8's default, stated here because nothing else does).
  oxc: { jsx: { runtime: "automatic" } },
  // The IdP client registration names http://localhost:5173/callback: keep the port fixed.
  server: { port: 5173, strictPort: true },
  preview: { port: 5173, strictPort: true },
});
