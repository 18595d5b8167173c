// The organisation's brand on every page: name, logo and colour, and the colour arithmetic that
// keeps text on the brand colour, and the brand colour on the page, at WCAG AA contrast in both
// colour schemes.

export type Brand = {
  name: string;
  /** Where the logo is loaded from: an absolute URL, or the IdP's own path for a served file. */
  logoUrl?: string;
  /** `#rrggbb`, as configured (a `#rgb` is expanded). */
  color: string;
};

type Rgb = [number, number, number];

export const DEFAULT_BRAND_COLOR = "#2457c5";

// The page and card backgrounds of each scheme (stylesheet.ts uses the same values).
export const LIGHT_BACKGROUND = "#ffffff";
export const DARK_BACKGROUND = "#181b21";

/** `#rgb` or `#rrggbb` as `#rrggbb` (lower case), or undefined when it is anything else. */
export function parseHexColor(value: string): string | undefined {
  const match = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(value.trim());
  if (!match) return undefined;
  const hex = match[1]!.toLowerCase();
  return `#${hex.length === 3 ? [...hex].map((digit) => digit + digit).join("") : hex}`;
}

function toRgb(hex: string): Rgb {
  return [1, 3, 5].map((start) => parseInt(hex.slice(start, start + 2), 16)) as Rgb;
}

function toHex(rgb: Rgb): string {
  return `#${rgb.map((channel) => Math.round(channel).toString(16).padStart(2, "0")).join("")}`;
}

/** WCAG 2 relative luminance. */
function luminance(hex: string): number {
  const [r, g, b] = toRgb(hex).map((channel) => {
    const c = channel / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as Rgb;
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2 contrast ratio of two colours, 1 to 21. */
export function contrastRatio(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

function mix(from: string, to: string, amount: number): string {
  const a = toRgb(from);
  const b = toRgb(to);
  return toHex(a.map((channel, index) => channel + (b[index]! - channel) * amount) as Rgb);
}

/** The colour moved towards `towards` in small steps until it reaches `ratio` against `background`. */
function untilContrast(color: string, background: string, ratio: number, towards: string): string {
  for (let step = 0; step <= 20; step++) {
    const candidate = mix(color, towards, step / 20);
    if (contrastRatio(candidate, background) >= ratio) return candidate;
  }
  return towards;
}

/** Black or white, whichever reads better on the colour (always at least 4.5:1 for one of them). */
export function textOn(color: string): string {
  return contrastRatio(color, "#ffffff") >= contrastRatio(color, "#000000") ? "#ffffff" : "#000000";
}

export type SchemeColors = {
  /** Button background. */
  accent: string;
  /** Text on the accent. */
  onAccent: string;
  /** Links and focus rings on the page background. */
  link: string;
};

/**
 * The brand colour in each scheme. Light: the button is the colour as given (its text black or
 * white, whichever contrasts more); links use it when it reaches 4.5:1 on white, else a darker
 * shade. Dark: the button is lightened only if it would not stand out (3:1) from the dark
 * background, and links are lightened to 4.5:1.
 */
export function schemeColors(color: string): { light: SchemeColors; dark: SchemeColors } {
  const darkAccent = untilContrast(color, DARK_BACKGROUND, 3, "#ffffff");
  return {
    light: { accent: color, onAccent: textOn(color), link: untilContrast(color, LIGHT_BACKGROUND, 4.5, "#000000") },
    dark: { accent: darkAccent, onAccent: textOn(darkAccent), link: untilContrast(color, DARK_BACKGROUND, 4.5, "#ffffff") },
  };
}
