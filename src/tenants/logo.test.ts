import { describe, expect, it } from 'vitest';
import { logoTypeOf } from './logo.js';

describe('logoTypeOf', () => {
  it('knows PNG and JPEG by their signatures', () => {
    expect(logoTypeOf(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]))).toBe('image/png');
    expect(logoTypeOf(Buffer.from([0xff, 0xd8, 0xff, 0xdb]))).toBe('image/jpeg');
  });

  it('refuses SVG, GIF, WebP, a truncated signature and nothing at all', () => {
    expect(logoTypeOf(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeUndefined();
    expect(logoTypeOf(Buffer.from('<?xml version="1.0"?><svg/>'))).toBeUndefined();
    expect(logoTypeOf(Buffer.from('GIF89a'))).toBeUndefined();
    expect(logoTypeOf(Buffer.from('RIFF\0\0\0\0WEBPVP8 '))).toBeUndefined();
    expect(logoTypeOf(Buffer.from([0x89, 0x50, 0x4e, 0x47]))).toBeUndefined();
    expect(logoTypeOf(Buffer.from([0xff, 0xd8]))).toBeUndefined();
    expect(logoTypeOf(Buffer.alloc(0))).toBeUndefined();
  });
});
