import { describe, expect, it } from "vitest";
import { contrastRatio, DARK_BACKGROUND, LIGHT_BACKGROUND, parseHexColor, schemeColors, textOn } from "./brand.ts";

describe("the brand colour", () => {
  it("accepts #rgb and #rrggbb only", () => {
    expect(parseHexColor("#25C")).toBe("#2255cc");
    expect(parseHexColor("#2457c5")).toBe("#2457c5");
    for (const bad of ["red", "#12345", "#ggg", "2457c5", "javascript:alert(1)", "#2457c5;}"]) expect(parseHexColor(bad), bad).toBeUndefined();
  });

  it("keeps text on it and links on the page at WCAG AA contrast in both schemes, for any colour", () => {
    for (let value = 0; value < 0x1000; value += 7) {
      const color = parseHexColor(`#${value.toString(16).padStart(3, "0")}`)!;
      const { light, dark } = schemeColors(color);
      expect(light.accent, color).toBe(color);
      expect(contrastRatio(light.accent, light.onAccent), color).toBeGreaterThanOrEqual(4.5);
      expect(contrastRatio(dark.accent, dark.onAccent), color).toBeGreaterThanOrEqual(4.5);
      expect(contrastRatio(light.link, LIGHT_BACKGROUND), color).toBeGreaterThanOrEqual(4.5);
      expect(contrastRatio(dark.link, DARK_BACKGROUND), color).toBeGreaterThanOrEqual(4.5);
      expect(contrastRatio(dark.accent, DARK_BACKGROUND), color).toBeGreaterThanOrEqual(3);
    }
  });

  it("adjusts the dark scheme only where the colour would not stand out", () => {
    expect(schemeColors("#e4572e").dark.accent).toBe("#e4572e");
    expect(schemeColors("#1a1a40").dark.accent).not.toBe("#1a1a40");
    expect(textOn("#ffffff")).toBe("#000000");
    expect(textOn("#000000")).toBe("#ffffff");
  });
});
