// The words of every page and error: one ICU MessageFormat catalogue per language in messages/
// (a new language is one more file there), the choice of language for a request, and formatting.
import { readdirSync, readFileSync } from "node:fs";
import { IntlMessageFormat } from "intl-messageformat";
import type english from "./messages/en.json";

export type MessageId = keyof typeof english;
/** A message to show, not yet in any language: rendered per request in the chosen locale. */
export type Message = { id: MessageId; values?: Record<string, string | number> };
export type Locale = string;

export const SOURCE_LOCALE = "en";
const MESSAGES_DIR = new URL("./messages/", import.meta.url);

type Catalogue = Map<string, string>;

/** Every catalogue in messages/, by file name ("de.json" is German). Read once, at first use. */
function readCatalogues(): Map<Locale, Catalogue> {
  const catalogues = new Map<Locale, Catalogue>();
  for (const file of readdirSync(MESSAGES_DIR).filter((name) => name.endsWith(".json")).sort()) {
    const entries = JSON.parse(readFileSync(new URL(file, MESSAGES_DIR), "utf8")) as Record<string, string>;
    catalogues.set(file.slice(0, -".json".length), new Map(Object.entries(entries)));
  }
  return catalogues;
}

let catalogues: Map<Locale, Catalogue> | undefined;
let locales: Locale[] | undefined;
const formats = new Map<string, IntlMessageFormat>();

function allCatalogues(): Map<Locale, Catalogue> {
  catalogues ??= readCatalogues();
  return catalogues;
}

/** The languages the pages speak, the source language first. */
function localeList(): Locale[] {
  locales ??= [SOURCE_LOCALE, ...[...allCatalogues().keys()].filter((locale) => locale !== SOURCE_LOCALE)];
  return locales;
}

export function supportedLocales(): Locale[] {
  return [...localeList()];
}

/** The raw pattern of a message (the source language's when a catalogue lacks it). */
export function messagePattern(locale: Locale, id: MessageId): string {
  const all = allCatalogues();
  return all.get(locale)?.get(id) ?? all.get(SOURCE_LOCALE)!.get(id) ?? id;
}

/** A message in a language, with its placeholders ({app}, plurals) filled in. */
export function translate(locale: Locale, id: MessageId, values?: Record<string, string | number>): string {
  const key = `${locale}\u0000${id}`;
  let format = formats.get(key);
  if (!format) {
    format = new IntlMessageFormat(messagePattern(locale, id), locale, undefined, { ignoreTag: true });
    formats.set(key, format);
  }
  return String(format.format(values));
}

/** The translator for one request's language. */
export type Translate = (id: MessageId, values?: Record<string, string | number>) => string;

export function translator(locale: Locale): Translate {
  return (id, values) => translate(locale, id, values);
}

/** A wait as words: "45 seconds", "2 minutes" (rounded up), in the locale's plural forms. */
export function waitWords(t: Translate, seconds: number): string {
  if (seconds < 60) return t("wait.seconds", { count: seconds });
  return t("wait.minutes", { count: Math.ceil(seconds / 60) });
}

/**
 * The request's language: the first supported one in `ui_locales` (OIDC's space-separated list,
 * most preferred first), then in Accept-Language (by q-value), then the default. A regional tag
 * falls back to its language ("de-CH" is served German).
 */
export function negotiateLocale(input: { uiLocales?: unknown; acceptLanguage?: unknown; fallback: Locale }): Locale {
  const supported = localeList();
  const match = (tag: string): Locale | undefined => {
    const lower = tag.trim().toLowerCase();
    if (!lower || lower === "*") return undefined;
    return supported.find((locale) => locale.toLowerCase() === lower) ?? supported.find((locale) => locale.toLowerCase() === lower.split("-")[0]);
  };
  if (typeof input.uiLocales === "string") {
    for (const tag of input.uiLocales.slice(0, 200).split(" ")) {
      const found = match(tag);
      if (found) return found;
    }
  }
  if (typeof input.acceptLanguage === "string") {
    for (const tag of parseAcceptLanguage(input.acceptLanguage)) {
      const found = match(tag);
      if (found) return found;
    }
  }
  return input.fallback;
}

/** Accept-Language's tags, most preferred first; q=0 and malformed entries left out. */
function parseAcceptLanguage(header: string): string[] {
  return header
    .slice(0, 500)
    .split(",")
    .slice(0, 20)
    .map((part, index) => {
      const [tag = "", ...params] = part.trim().split(";");
      const q = params.map((param) => /^\s*q=([0-9.]+)\s*$/i.exec(param)?.[1]).find(Boolean);
      return { tag: tag.trim(), q: q === undefined ? 1 : Number(q), index };
    })
    .filter((entry) => /^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/.test(entry.tag) && entry.q > 0 && entry.q <= 1)
    .sort((a, b) => b.q - a.q || a.index - b.index)
    .map((entry) => entry.tag);
}

/** A Message in the view's language; a numeric `wait` value is written as words ("2 minutes"). */
export function formatMessage(t: Translate, message: Message): string {
  const values = { ...message.values };
  if (typeof values.wait === "number") values.wait = waitWords(t, values.wait);
  return t(message.id, values);
}
