import { describe, expect, it } from "vitest";
import { parse, TYPE, type MessageFormatElement } from "@formatjs/icu-messageformat-parser";
import english from "./messages/en.json" with { type: "json" };
import { messagePattern, negotiateLocale, supportedLocales, translate, type MessageId } from "./i18n.ts";

const ids = Object.keys(english) as MessageId[];

/** The argument names a message uses, plural arms included. */
function argumentNames(elements: MessageFormatElement[], into = new Set<string>()): Set<string> {
  for (const element of elements) {
    if (element.type === TYPE.argument || element.type === TYPE.number || element.type === TYPE.date) into.add(element.value);
    if (element.type === TYPE.plural || element.type === TYPE.select) {
      into.add(element.value);
      for (const option of Object.values(element.options)) argumentNames(option.value, into);
    }
  }
  return into;
}

describe("the message catalogues", () => {
  it("are the five languages, English first", () => {
    expect(supportedLocales()).toEqual(["en", "de", "es", "fr", "ja"]);
  });

  it.each(supportedLocales().filter((locale) => locale !== "en"))("%s has every message, with the same placeholders, and no other", async (locale) => {
    const catalogue = (await import(`./messages/${locale}.json`, { with: { type: "json" } })).default as Record<string, string>;
    expect(Object.keys(catalogue).sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const names = [...argumentNames(parse(catalogue[id]!))].sort();
      expect(names, `${locale} ${id}`).toEqual([...argumentNames(parse(english[id]))].sort());
      expect(messagePattern(locale, id)).toBe(catalogue[id]);
    }
  });

  it("formats placeholders and plurals per language", () => {
    expect(translate("en", "consent.title", { app: "Notes" })).toBe("Allow Notes?");
    expect(translate("en", "wait.seconds", { count: 1 })).toBe("1 second");
    expect(translate("en", "wait.seconds", { count: 2 })).toBe("2 seconds");
    expect(translate("de", "wait.minutes", { count: 1 })).toBe("1 Minute");
    expect(translate("de", "wait.minutes", { count: 5 })).toBe("5 Minuten");
    expect(translate("ja", "login.title")).toBe("サインイン");
  });
});

describe("choosing the language", () => {
  const choose = (uiLocales?: string, acceptLanguage?: string, fallback = "en") => negotiateLocale({ uiLocales, acceptLanguage, fallback });

  it("takes the first supported ui_locales entry, then Accept-Language by q-value, then the default", () => {
    expect(choose("xx de fr", "es")).toBe("de");
    expect(choose("xx", "fr;q=0.5, es;q=0.9")).toBe("es");
    expect(choose(undefined, "xx-YY, *")).toBe("en");
    expect(choose(undefined, undefined, "ja")).toBe("ja");
  });

  it("serves a regional variant in its language and ignores q=0 and malformed tags", () => {
    expect(choose("de-CH")).toBe("de");
    expect(choose(undefined, "fr-CA")).toBe("fr");
    expect(choose(undefined, "de;q=0, es")).toBe("es");
    expect(choose(undefined, "<script>, ja")).toBe("ja");
  });
});
