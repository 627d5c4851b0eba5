// The tenant's branding (its stored label policy: ZITADEL's labelPolicy colours, see
// src/export/document.ts) as a stylesheet of its own: the pages' CSP allows no inline
// style. A colour is used only where it keeps WCAG 2.1 AA contrast against what it meets,
// so a tenant cannot make its login page unreadable.

const HEX = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i;

function rgb(hex: string): [number, number, number] {
  const h = hex.length === 4 ? [...hex.slice(1)].map((c) => c + c).join('') : hex.slice(1);
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
}

/** Relative luminance (WCAG 2.1). */
function luminance([r, g, b]: [number, number, number]): number {
  const lin = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** WCAG 2.1 contrast ratio of two colours given as [r, g, b]. */
export function contrastRatio(a: [number, number, number], b: [number, number, number]): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

const WHITE: [number, number, number] = [255, 255, 255];
const colour = (v: unknown) => (typeof v === 'string' && HEX.test(v.trim()) ? v.trim().toLowerCase() : undefined);

/** The stylesheet of a tenant's branding; empty when it stores none that can be used. */
export function brandStylesheet(branding: Record<string, unknown>): string {
  const rules: string[] = [];
  const primary = colour(branding.primaryColor);
  const background = colour(branding.backgroundColor);
  const font = colour(branding.fontColor);
  // Buttons carry white text on the primary colour; links are primary on the white card.
  if (primary && contrastRatio(rgb(primary), WHITE) >= 4.5) {
    rules.push(`button:not(.secondary){background:${primary};border-color:${primary}}`, `a{color:${primary}}`, `:focus-visible{outline-color:${primary}}`);
  }
  // The page background only frames the card; text sits on the card, which stays white.
  if (background) rules.push(`body{background:${background}}`);
  if (font && contrastRatio(rgb(font), WHITE) >= 4.5) rules.push(`.card{color:${font}}`);
  return rules.join('\n') + (rules.length ? '\n' : '');
}
