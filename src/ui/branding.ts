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
/** The error box's background (src/ui/layout.ts), which the warn colour is read on. */
const ERROR_BOX: [number, number, number] = [0xfd, 0xec, 0xec];
const colour = (v: unknown) => (typeof v === 'string' && HEX.test(v.trim()) ? v.trim().toLowerCase() : undefined);
const readable = (fg: string | undefined, bg: [number, number, number]): fg is string => fg !== undefined && contrastRatio(rgb(fg), bg) >= 4.5;

/** The rules of one colour scheme: the light one (ZITADEL's primaryColor, ...) or the dark one (primaryColorDark, ...). */
function schemeRules(branding: Record<string, unknown>, suffix: '' | 'Dark'): string[] {
  const rules: string[] = [];
  const primary = colour(branding[`primaryColor${suffix}`]);
  const background = colour(branding[`backgroundColor${suffix}`]);
  const font = colour(branding[`fontColor${suffix}`]);
  const warn = colour(branding[`warnColor${suffix}`]);
  // The page background only frames the card; text sits on the card.
  if (background) rules.push(`body{background:${background}}`);
  // The light card stays white. A dark scheme turns the card dark only with a font colour
  // readable on it, and then its secondary texts take that colour too (their own greys are for white).
  let card = WHITE;
  if (suffix === 'Dark') {
    if (background && readable(font, rgb(background))) {
      card = rgb(background);
      rules.push(`.card{background:${background};color:${font}}`, `.muted,.rules,.or,.brand-name{color:${font}}`);
    }
  } else if (readable(font, WHITE)) {
    rules.push(`.card{color:${font}}`);
  }
  // Buttons carry white text on the primary colour; links are primary on the card.
  if (readable(primary, WHITE)) rules.push(`button:not(.secondary){background:${primary};border-color:${primary}}`);
  if (readable(primary, card)) rules.push(`a{color:${primary}}`, `:focus-visible{outline-color:${primary}}`);
  else if (card !== WHITE) rules.push(`a{color:${font}}`, `:focus-visible{outline-color:${font}}`);
  // Error messages are read on their own pale box; an invalid input's border on the white input.
  if (readable(warn, ERROR_BOX)) rules.push(`.error{color:${warn}}`, `input[aria-invalid=true]{border-color:${warn}}`);
  return rules;
}

/** The stylesheet of a tenant's branding; empty when it stores none that can be used. */
export function brandStylesheet(branding: Record<string, unknown>): string {
  const light = schemeRules(branding, '');
  const dark = schemeRules(branding, 'Dark');
  const css = [...light, ...(dark.length ? [`@media (prefers-color-scheme:dark){${dark.join('')}}`] : [])];
  return css.join('\n') + (css.length ? '\n' : '');
}
