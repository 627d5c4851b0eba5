import { describe, expect, it } from 'vitest';
import { brandStylesheet, contrastRatio } from './branding.js';

describe('tenant branding stylesheet', () => {
  it('computes WCAG contrast ratios', () => {
    expect(contrastRatio([0, 0, 0], [255, 255, 255])).toBeCloseTo(21, 5);
    expect(contrastRatio([255, 255, 255], [255, 255, 255])).toBe(1);
    // The login stylesheet's input border on the white card (WCAG 1.4.11 needs 3:1).
    expect(contrastRatio([0x6b, 0x74, 0x87], [255, 255, 255])).toBeGreaterThan(4.5);
  });

  it('uses the colours that keep AA contrast and drops the others', () => {
    const css = brandStylesheet({ primaryColor: '#7A1F5C', backgroundColor: '#eef', fontColor: '#ffff66' });
    expect(css).toContain('button:not(.secondary){background:#7a1f5c;border-color:#7a1f5c}');
    expect(css).toContain('body{background:#eef}');
    // Pale yellow text on the white card would be unreadable.
    expect(css).not.toContain('#ffff66');
    expect(brandStylesheet({ primaryColor: '#ffee00' })).toBe('');
  });

  it('takes hex colours only, so that a stored value cannot inject CSS', () => {
    expect(brandStylesheet({ primaryColor: 'red;}body{display:none', backgroundColor: 'url(https://evil.test/x)', fontColor: 42 })).toBe('');
  });

  it('colours error messages with warnColor when it reads on the error box', () => {
    expect(brandStylesheet({ warnColor: '#6b0000' })).toContain('.error{color:#6b0000}');
    expect(brandStylesheet({ warnColor: '#ff9999' })).toBe('');
  });

  it('applies the dark colours under prefers-color-scheme: dark, the card dark only with readable text', () => {
    const css = brandStylesheet({ backgroundColorDark: '#111827', fontColorDark: '#f3f4f6', primaryColorDark: '#93c5fd', warnColorDark: '#7f1d1d' });
    expect(css).toMatch(/^@media \(prefers-color-scheme:dark\)\{/);
    expect(css).toContain('.card{background:#111827;color:#f3f4f6}');
    // Light blue reads on the dark card as a link, but not as a button's background under white text.
    expect(css).toContain('a{color:#93c5fd}');
    expect(css).not.toContain('button:not(.secondary){background:#93c5fd');
    expect(css).toContain('.error{color:#7f1d1d}');
    // A dark font on the dark background: the card stays white, only the frame changes.
    const unreadable = brandStylesheet({ backgroundColorDark: '#111827', fontColorDark: '#222222' });
    expect(unreadable).toContain('body{background:#111827}');
    expect(unreadable).not.toContain('.card{');
  });
});
