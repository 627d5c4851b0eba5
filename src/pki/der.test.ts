import { describe, expect, it } from 'vitest';
import {
  OID,
  bool,
  children,
  explicit,
  fromPem,
  generalizedTime,
  implicitPrim,
  integer,
  integerValue,
  isContext,
  isSeq,
  nul,
  octets,
  oid,
  oidOf,
  parse,
  pem,
  raw,
  seq,
  set,
  sliceChild,
  time,
  toDer,
  utf8,
  Types,
} from './der.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('DER encoding', () => {
  it('encodes object identifiers (first two arcs in one byte, base-128 arcs)', () => {
    expect(hex(toDer(oid(OID.sha256WithRSA)))).toBe('06092a864886f70d01010b');
    expect(hex(toDer(oid(OID.commonName)))).toBe('0603550403');
    expect(hex(toDer(oid(OID.ed25519)))).toBe('06032b6570');
    expect(hex(toDer(oid(OID.sha256)))).toBe('0609608648016503040201');
    for (const o of Object.values(OID)) expect(oidOf(parse(toDer(oid(o))))).toBe(o);
  });

  it.each([
    [0n, '020100'],
    [1n, '020101'],
    [127n, '02017f'],
    [128n, '02020080'],
    [255n, '020200ff'],
    [256n, '02020100'],
    [32767n, '02027fff'],
    [32768n, '0203008000'],
    [(1n << 159n) + 5n, '021500' + '80' + '00'.repeat(18) + '05'],
  ])('encodes INTEGER %s minimally, with a sign byte when the top bit is set', (n, expected) => {
    expect(hex(toDer(integer(n)))).toBe(expected);
    expect(integerValue(parse(toDer(integer(n))))).toBe(n);
  });

  it('reads negative INTEGERs in two’s complement', () => {
    expect(integerValue(parse(Buffer.from('0201ff', 'hex')))).toBe(-1n);
    expect(integerValue(parse(Buffer.from('020180', 'hex')))).toBe(-128n);
    expect(integerValue(parse(Buffer.from('0202ff7f', 'hex')))).toBe(-129n);
    expect(integerValue(parse(Buffer.from('02020080', 'hex')))).toBe(128n);
  });

  it.each([
    [0, '0400'],
    [127, '047f'],
    [128, '048180'],
    [255, '0481ff'],
    [256, '04820100'],
    [65535, '0482ffff'],
    [65536, '0483010000'],
    [70000, '0483011170'],
  ])('uses the short or long length form for %i content bytes', (n, header) => {
    const content = Buffer.alloc(n, 0xab);
    const der = toDer(octets(content));
    expect(hex(der.subarray(0, header.length / 2))).toBe(header);
    expect(der.length).toBe(header.length / 2 + n);
    const back = parse(der);
    expect(Buffer.from(back.value as string, 'latin1').equals(content)).toBe(true);
  });

  it('round-trips nested structures byte for byte', () => {
    const node = seq([
      oid(OID.ecPublicKey),
      nul(),
      bool(true),
      bool(false),
      utf8('Grüße 😀'),
      set([integer(3n), integer(1n)]),
      explicit(0, integer(2n)),
      implicitPrim(1, 'abc'),
      octets(Buffer.alloc(300, 1)),
    ]);
    const der = toDer(node);
    expect(toDer(parse(der)).equals(der)).toBe(true);
    expect(hex(toDer(bool(true)))).toBe('0101ff');
    expect(hex(toDer(nul()))).toBe('0500');
    expect(Buffer.from(children(parse(der))[4]!.value as string, 'latin1').toString('utf8')).toBe('Grüße 😀');
  });

  it('splices encoded DER in unchanged', () => {
    const inner = toDer(seq([integer(7n), utf8('x')]));
    expect(toDer(seq([raw(inner)])).equals(Buffer.concat([Buffer.from([0x30, inner.length]), inner]))).toBe(true);
  });

  it('writes UTCTime through 2049 and GeneralizedTime from 2050, without milliseconds', () => {
    expect(
      toDer(time(new Date('2049-12-31T23:59:59.999Z')))
        .toString('latin1')
        .slice(2),
    ).toBe('491231235959Z');
    expect(toDer(time(new Date('2049-12-31T23:59:59Z')))[0]).toBe(Types.UTCTIME);
    expect(toDer(time(new Date('2050-01-01T00:00:00Z')))[0]).toBe(Types.GENERALIZEDTIME);
    expect(
      toDer(generalizedTime(new Date('2030-05-06T07:08:09.5Z')))
        .toString('latin1')
        .slice(2),
    ).toBe('20300506070809Z');
  });
});

describe('strict DER parsing', () => {
  it('refuses trailing bytes and truncation', () => {
    expect(() => parse(Buffer.from('02010100', 'hex'))).toThrow();
    expect(() => parse(Buffer.from('02030100', 'hex'))).toThrow();
  });

  for (const [form, input] of [
    ['an indefinite length', '30800201010000'],
    ['a long-form length for a short content', '048103010203'],
    ['a length with a leading zero byte', '04820003010203'],
    ['an INTEGER with a superfluous leading zero byte', '02020001'],
    ['an INTEGER with a superfluous leading ff byte', '0202ff80'],
    ['an empty INTEGER', '0200'],
    ['a BOOLEAN true other than 0xff', '010101'],
    ['a constructed OCTET STRING', '2403040101'],
    ['a NULL with content', '050100'],
    ['a BIT STRING with more than 7 unused bits', '03020800'],
    ['a malformed element inside a SEQUENCE', '300402020001'],
    ['an element longer than its SEQUENCE', '3003020201'],
  ]) {
    it(`refuses ${form}`, () => {
      expect(() => parse(Buffer.from(input!, 'hex'))).toThrow();
    });
  }

  it('accepts the distinguished forms', () => {
    for (const input of ['020100', '0201ff', '02020080', '0202ff7f', '0101ff', '010100', '0500', '030100', '3006020101010100', 'a003020101']) {
      expect(() => parse(Buffer.from(input, 'hex')), input).not.toThrow();
    }
    const long = toDer(seq([utf8('x'.repeat(200))]));
    expect(toDer(parse(long)).equals(long)).toBe(true);
  });

  it('tells sequences and context tags apart', () => {
    const node = parse(toDer(seq([explicit(2, nul())])));
    expect(isSeq(node)).toBe(true);
    expect(isContext(children(node)[0], 2)).toBe(true);
    expect(isContext(children(node)[0], 1)).toBe(false);
    expect(isSeq(children(node)[0])).toBe(false);
  });
});

describe('sliceChild', () => {
  it('returns the exact bytes of each element, also behind long lengths', () => {
    const a = toDer(integer(5n));
    const b = toDer(octets(Buffer.alloc(70000, 2)));
    const c = toDer(utf8('end'));
    const whole = toDer(seq([raw(a), raw(b), raw(c)]));
    expect(whole[1]).toBe(0x83);
    expect(sliceChild(whole, 0).equals(a)).toBe(true);
    expect(sliceChild(whole, 1).equals(b)).toBe(true);
    expect(sliceChild(whole, 2).equals(c)).toBe(true);
    expect(() => sliceChild(whole, 3)).toThrow('element missing');
  });

  it('refuses truncated input and over-long length fields', () => {
    expect(() => sliceChild(Buffer.from('3005020101', 'hex'), 0)).toThrow('truncated');
    expect(() => sliceChild(Buffer.from('308500000000010000', 'hex'), 0)).toThrow('bad length');
    expect(() => sliceChild(Buffer.from('30', 'hex'), 0)).toThrow('truncated');
  });
});

describe('PEM', () => {
  it('wraps at 64 columns and reads back the first block with a wanted label', () => {
    const der = Buffer.alloc(100, 7);
    const text = pem('CERTIFICATE', der);
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe('-----BEGIN CERTIFICATE-----');
    expect(lines.at(-1)).toBe('-----END CERTIFICATE-----');
    expect(lines.slice(1, -1).every((l) => l.length <= 64)).toBe(true);
    expect(fromPem('junk\n' + pem('PRIVATE KEY', Buffer.from([1])) + text, ['CERTIFICATE'])!.equals(der)).toBe(true);
    expect(fromPem(text, ['X509 CRL'])).toBeUndefined();
  });
});
