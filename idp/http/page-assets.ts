// What the pages load besides themselves: the stylesheet built from the brand, and the logo when
// the IdP serves it from BRAND_LOGO_FILE. Both are read or built once at start, served with a
// long cache lifetime under a URL that changes with their content.
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import type { Config } from "../config.ts";
import { ConfigError } from "../config.ts";
import type { Brand } from "../pages/brand.ts";
import { buildStylesheet } from "../pages/stylesheet.ts";
import { createViews, type Views } from "../pages/layout.ts";

const LOGO_TYPES: Record<string, string> = {
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".gif": "image/gif",
};
const LOGO_MAX_BYTES = 512 * 1024;

type LogoFile = { path: string; body: Buffer; type: string };

export type PageAssets = {
  views: Views;
  /** Origins the pages load images from besides their own (BRAND_LOGO_URL's), for the CSP. */
  imageOrigins: string[];
  logo?: LogoFile;
};

async function readLogo(file: string): Promise<LogoFile> {
  const size = await stat(file).then(
    (info) => info.size,
    (error: NodeJS.ErrnoException) => {
      throw new ConfigError(`BRAND_LOGO_FILE ${file} cannot be read: ${error.code ?? error.message}`);
    },
  );
  if (size > LOGO_MAX_BYTES) throw new ConfigError(`BRAND_LOGO_FILE ${file} is larger than 512 KiB`);
  const body = await readFile(file);
  const extension = path.extname(file).toLowerCase();
  return { path: `/assets/logo${extension}`, body, type: LOGO_TYPES[extension]! };
}

export async function loadPageAssets(config: Config): Promise<PageAssets> {
  const logo = config.brandLogoFile ? await readLogo(config.brandLogoFile) : undefined;
  const logoUrl = logo ? `${logo.path}?v=${createHash("sha256").update(logo.body).digest("base64url").slice(0, 12)}` : config.brandLogoUrl;
  const brand: Brand = { name: config.brandName, logoUrl, color: config.brandColor };
  const stylesheet = buildStylesheet(config.brandColor);
  return {
    views: createViews({ brand, stylesheet, defaultLocale: config.defaultLocale }),
    imageOrigins: config.brandLogoUrl ? [new URL(config.brandLogoUrl).origin] : [],
    logo,
  };
}

export function pageAssetRoutes(app: FastifyInstance, assets: PageAssets): void {
  const cache = "public, max-age=86400";
  const { stylesheet } = assets.views;
  app.get(stylesheet.path, async (_request, reply) => reply.type("text/css; charset=utf-8").header("Cache-Control", cache).send(stylesheet.css));
  const { logo } = assets;
  // Mails show the logo too, from webmail on other origins: it is public, so any origin may embed it.
  if (logo) {
    app.get(logo.path, async (_request, reply) =>
      reply.type(logo.type).header("Cache-Control", cache).header("Cross-Origin-Resource-Policy", "cross-origin").send(logo.body),
    );
  }
}
