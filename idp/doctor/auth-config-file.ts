// Reads the providers of a Convex `auth.config.ts` without running it: a small parser for the
// object-literal forms Convex documents. The TypeScript compiler is a dev dependency only (the
// Docker image installs without it), and executing a project file from a doctor is not acceptable,
// so values are read as literals: strings, templates without `${}`, and `process.env.NAME`
// (with `!`, `?? "default"` or `|| "default"`); anything else is kept as its source text.

/** One property's value as written. */
export type ConfigValue =
  | { kind: "string"; value: string }
  | { kind: "env"; name: string; fallback?: string }
  | { kind: "expression"; text: string };

export type ParsedProvider = Record<string, ConfigValue>;

export class AuthConfigParseError extends Error {
  override name = "AuthConfigParseError";
}

type Token = { type: "string" | "template" | "ident" | "punct" | "other"; text: string; value?: string; start: number; end: number };

const PUNCT = new Set(["[", "]", "{", "}", "(", ")", ",", ":", "!", ".", "?", "|", "=", ";"]);

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (source.startsWith("//", i)) { const nl = source.indexOf("\n", i); i = nl < 0 ? source.length : nl; continue; }
    if (source.startsWith("/*", i)) { const close = source.indexOf("*/", i + 2); if (close < 0) throw new AuthConfigParseError("unterminated comment"); i = close + 2; continue; }
    if (c === '"' || c === "'" || c === "`") {
      const start = i;
      let value = "";
      let interpolated = false;
      i++;
      while (i < source.length && source[i] !== c) {
        if (source[i] === "\\") {
          const next = source[i + 1] ?? "";
          value += ({ n: "\n", t: "\t", r: "\r", "0": "\0" } as Record<string, string>)[next] ?? next;
          i += 2;
          continue;
        }
        if (c === "`" && source.startsWith("${", i)) interpolated = true;
        if (c !== "`" && source[i] === "\n") throw new AuthConfigParseError(`unterminated string at offset ${start}`);
        value += source[i];
        i++;
      }
      if (i >= source.length) throw new AuthConfigParseError(`unterminated string at offset ${start}`);
      i++;
      tokens.push({ type: c === "`" ? "template" : "string", text: source.slice(start, i), value: interpolated ? undefined : value, start, end: i });
      continue;
    }
    const ident = /^[A-Za-z_$][\w$]*/.exec(source.slice(i));
    if (ident) { tokens.push({ type: "ident", text: ident[0], start: i, end: i + ident[0].length }); i += ident[0].length; continue; }
    // "??" and "||" are two punct tokens each; fine for this grammar.
    tokens.push({ type: PUNCT.has(c) ? "punct" : "other", text: c, start: i, end: i + 1 });
    i++;
  }
  return tokens;
}

const OPEN: Record<string, string> = { "[": "]", "{": "}", "(": ")" };

/** Parses the tokens of one value (from..to, exclusive) into what it says. */
function readValue(source: string, tokens: Token[]): ConfigValue {
  const text = tokens.length ? source.slice(tokens[0]!.start, tokens.at(-1)!.end) : "";
  const texts = tokens.map((token) => token.text);
  const literal = (token: Token | undefined) => (token && (token.type === "string" || token.type === "template") ? token.value : undefined);
  if (tokens.length === 1 && literal(tokens[0]) !== undefined) return { kind: "string", value: literal(tokens[0])! };
  if (texts[0] === "process" && texts[1] === "." && texts[2] === "env" && texts[3] === "." && tokens[4]?.type === "ident") {
    const name = tokens[4].text;
    const rest = texts.slice(5);
    if (rest.length === 0 || (rest.length === 1 && rest[0] === "!")) return { kind: "env", name };
    const fallback = literal(tokens[7]);
    if (tokens.length === 8 && ((rest[0] === "?" && rest[1] === "?") || (rest[0] === "|" && rest[1] === "|")) && fallback !== undefined) {
      return { kind: "env", name, fallback };
    }
  }
  return { kind: "expression", text };
}

/** The index of the token closing the bracket opened at `open`. */
function matching(tokens: Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const text = tokens[i]!.text;
    if (tokens[i]!.type !== "punct") continue;
    if (OPEN[text]) depth++;
    else if (text === "]" || text === "}" || text === ")") {
      depth--;
      if (depth === 0) return i;
    }
  }
  throw new AuthConfigParseError("unbalanced brackets");
}

/** Splits tokens (between brackets) at top-level commas. */
function splitTopLevel(tokens: Token[]): Token[][] {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (const token of tokens) {
    if (token.type === "punct" && OPEN[token.text]) depth++;
    if (token.type === "punct" && ["]", "}", ")"].includes(token.text)) depth--;
    if (depth === 0 && token.type === "punct" && token.text === ",") parts.push([]);
    else parts.at(-1)!.push(token);
  }
  return parts.filter((part) => part.length > 0);
}

function readObject(source: string, tokens: Token[]): ParsedProvider {
  const provider: ParsedProvider = {};
  for (const property of splitTopLevel(tokens)) {
    const [key, colon, ...value] = property;
    const name = key && (key.type === "ident" ? key.text : key.type === "string" ? key.value : undefined);
    if (name === undefined || colon?.text !== ":") {
      throw new AuthConfigParseError(`cannot read the property "${source.slice(property[0]!.start, property.at(-1)!.end)}": write each provider field as name: value`);
    }
    provider[name] = readValue(source, value);
  }
  return provider;
}

/** The `providers` array of an auth.config.ts source, each provider's fields as written. */
export function parseAuthConfig(source: string): ParsedProvider[] {
  const tokens = tokenize(source);
  // `providers: [` in the exported object, or `const providers = [` used as a shorthand.
  const at = tokens.findIndex((token, i) => token.text === "providers" && [":", "="].includes(tokens[i + 1]?.text ?? "") && tokens[i + 2]?.text === "[");
  if (at < 0) throw new AuthConfigParseError("no `providers: [...]` array found");
  const open = at + 2;
  const close = matching(tokens, open);
  return splitTopLevel(tokens.slice(open + 1, close)).map((element) => {
    if (element[0]?.text !== "{" || matching(element, 0) !== element.length - 1) {
      throw new AuthConfigParseError(`a provider is not an object literal: ${source.slice(element[0]!.start, element.at(-1)!.end)}`);
    }
    return readObject(source, element.slice(1, -1));
  });
}
