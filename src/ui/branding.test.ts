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
});
