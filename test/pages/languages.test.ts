// The pages in the five languages, over plain HTTP: each page's <h1>, <title>, buttons and
// <html lang> in English, German, French, Spanish and Japanese, and how the language is chosen:
// the request's ui_locales first, then Accept-Language (a regional tag falls back to its
// language), then DEFAULT_LOCALE; a language nobody speaks here falls back.
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { supportedLocales, translate } from "../../idp/pages/i18n.ts";
import { formButtons, HttpVisitor, LOCALES, outline, PAGE_WORDS, PARTNER, reach, startSite, type PageName, type ReachOptions, type Site } from "./visit.ts";

let site: Site;
let spanishSite: Site;

beforeAll(async () => {
  [site, spanishSite] = await Promise.all([startSite(), startSite({ env: () => ({ DEFAULT_LOCALE: "es" }) })]);
}, 120_000);

afterAll(async () => {
  await Promise.all([site?.close(), spanishSite?.close()]);
});

type Visit = ReachOptions & { acceptLanguage?: string; on?: Site };

/** Reaches a page over HTTP in a fresh cookie jar; its outline and markup. */
async function visit(name: PageName, { acceptLanguage, on = site, ...options }: Visit = {}) {
  const visitor = new HttpVisitor(acceptLanguage ? { "accept-language": acceptLanguage } : {});
  await reach(on, visitor, name, options);
  return { ...outline(visitor.current!.html), html: visitor.current!.html };
}

/** The page's heading as the catalogue has it in that language. */
function expectedTitle(locale: string, name: PageName): string {
  return translate(locale, PAGE_WORDS[name].title, { app: PARTNER.name });
}

/** A page in a language: <html lang>, its one <h1>, a <title> that contains it, and its buttons. */
function expectInLanguage(page: Awaited<ReturnType<typeof visit>>, locale: string, name: PageName): void {
  const title = expectedTitle(locale, name);
  expect({ lang: page.lang, h1: page.h1 }, `the ${name} page in ${locale}`).toEqual({ lang: locale, h1: [title] });
  expect(page.title, "<title> contains the heading").toContain(title);
  const buttons = page.buttons.map((button) => button.text);
  for (const id of PAGE_WORDS[name].buttons) expect(buttons, `the ${name} page's buttons`).toContain(translate(locale, id));
}

describe("the catalogues", () => {
  it("has one for each of the five languages, each with every message of the English one", async () => {
    expect(supportedLocales().toSorted()).toEqual([...LOCALES].toSorted());
    const ids = async (locale: string) =>
      Object.keys(JSON.parse(await readFile(new URL(`../../idp/pages/messages/${locale}.json`, import.meta.url), "utf8")) as object).toSorted();
    const english = await ids("en");
    for (const locale of LOCALES) expect(await ids(locale), `messages/${locale}.json`).toEqual(english);
  });
});

describe.each(LOCALES)("the pages in %s", (locale) => {
  it("sign-in (ui_locales): heading, title and the sign-in form's submit button", async () => {
    const page = await visit("sign-in", { uiLocales: locale });
    expectInLanguage(page, locale, "sign-in");
    expect(formButtons(page.html, "/login")).toContain(translate(locale, "login.submit"));
    expect(page.text).toContain(translate(locale, "layout.continueTo", { app: PARTNER.name }));
  });

  it("sign-in after a wrong password: the error in the same language", async () => {
    const page = await visit("sign-in-error", { uiLocales: locale });
    expectInLanguage(page, locale, "sign-in-error");
    expect(page.text).toContain(translate(locale, "login.error.invalidCredentials"));
  });

  it("consent (ui_locales): heading with the client's name, allow and deny", async () => {
    expectInLanguage(await visit("consent", { uiLocales: locale }), locale, "consent");
  });

  it("sign-out confirmation (end_session's ui_locales): heading and the sign-out button", async () => {
    const page = await visit("sign-out", { uiLocales: locale });
    expectInLanguage(page, locale, "sign-out");
    // The button that really signs out (logout=yes) is the one labelled logout.confirm.
    expect(page.buttons.find((button) => button.name === "logout")?.text).toBe(translate(locale, "logout.confirm"));
  });

  it("signed out (Accept-Language)", async () => {
    expectInLanguage(await visit("signed-out", { uiLocales: locale, acceptLanguage: locale }), locale, "signed-out");
  });

  it.each(["expired", "not-found", "error-unknown-client", "error-bad-redirect", "too-many-requests"] as const)(
    "the %s error page (Accept-Language)",
    async (name) => {
      expectInLanguage(await visit(name, { acceptLanguage: locale }), locale, name);
    },
  );
});

describe("choosing the language", () => {
  it("serves DEFAULT_LOCALE (en by default) for a language it does not speak", async () => {
    const page = await visit("sign-in", { uiLocales: "xx", acceptLanguage: "xx-YY" });
    expectInLanguage(page, "en", "sign-in");
  });

  it("serves DEFAULT_LOCALE=es when nothing the browser asks for is spoken, and when it asks for nothing", async () => {
    expectInLanguage(await visit("sign-in", { on: spanishSite, uiLocales: "xx", acceptLanguage: "xx-YY" }), "es", "sign-in");
    expectInLanguage(await visit("sign-in", { on: spanishSite }), "es", "sign-in");
    expectInLanguage(await visit("not-found", { on: spanishSite, acceptLanguage: "xx-YY" }), "es", "not-found");
  });

  it("lets ui_locales win over Accept-Language, on the sign-in and the sign-out page", async () => {
    expectInLanguage(await visit("sign-in", { uiLocales: "de", acceptLanguage: "fr" }), "de", "sign-in");
    expectInLanguage(await visit("sign-out", { uiLocales: "de", acceptLanguage: "fr" }), "de", "sign-out");
  });

  it("takes the first spoken language of ui_locales", async () => {
    expectInLanguage(await visit("sign-in", { uiLocales: "xx ja de" }), "ja", "sign-in");
  });

  it("serves a regional Accept-Language tag in its language: fr-CA is French", async () => {
    expectInLanguage(await visit("sign-in", { acceptLanguage: "fr-CA" }), "fr", "sign-in");
    expectInLanguage(await visit("expired", { acceptLanguage: "fr-CA" }), "fr", "expired");
  });

  it("follows Accept-Language's q-values and skips what it does not speak", async () => {
    expectInLanguage(await visit("sign-in", { acceptLanguage: "xx;q=1, ja;q=0.5, de-AT;q=0.8" }), "de", "sign-in");
  });

  it("uses Accept-Language on the pages of the flow when the request has no ui_locales", async () => {
    expectInLanguage(await visit("consent", { acceptLanguage: "es-MX" }), "es", "consent");
  });
});
