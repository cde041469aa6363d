import { mimeTypes } from 'file-type/core';
import { presentationOf } from '../../api/http/contentPresentation';
import { agrees, decideContentType, detectedTypeOf, refusalMessage, refusedTypesIn, typeDependsOnBytes } from '../../lib/uploads/contentType';
import { mulberry32 } from '../support/mulberry32';
import { htmlBytes, jpegBytes, pdfBytes, pngBytes, svgBytes } from '../support/sampleFiles';

const decide = (declared: string, detected: string | undefined, current?: string, refuses = true) =>
  decideContentType({ declared, detected, current, refuses });

describe('detectedTypeOf', () => {
  it('names the format of real files, and nothing for text', async () => {
    expect(await detectedTypeOf(pngBytes())).toBe('image/png');
    expect(await detectedTypeOf(jpegBytes())).toBe('image/jpeg');
    expect(await detectedTypeOf(pdfBytes())).toBe('application/pdf');
    expect(await detectedTypeOf(svgBytes())).toBe('application/xml');
    expect(await detectedTypeOf(htmlBytes())).toBeUndefined();
    expect(await detectedTypeOf(Buffer.from('a line of notes\n'))).toBeUndefined();
    expect(await detectedTypeOf(Buffer.alloc(0))).toBeUndefined();
  });

  it('takes a two-byte sign of a format only when a longer mark confirms it', async () => {
    const exe = Buffer.alloc(0x100);
    exe.write('MZ', 0, 'latin1');
    expect(await detectedTypeOf(exe)).toBeUndefined();
    exe.writeUInt32LE(0x80, 0x3c);
    exe.write('PE\0\0', 0x80, 'latin1');
    expect(await detectedTypeOf(exe)).toBe('application/x-msdownload');
    const frame = Buffer.from([0xff, 0xfb, 0x90, 0x64, ...Array(60).fill(0x55)]);
    expect(await detectedTypeOf(frame)).toBeUndefined();
    expect(await detectedTypeOf(Buffer.concat([Buffer.from('ID3\u0004\0\0\0\0\0\0', 'latin1'), frame]))).toBe('audio/mpeg');
  });

  it('finds no type in seeded random bytes, as the integration tests send them declared image/png', async () => {
    const next = mulberry32(29);
    for (let i = 0; i < 20_000; i++) {
      const bytes = Buffer.from(Array.from({ length: 64 }, () => Math.floor(next() * 256)));
      expect(await detectedTypeOf(bytes)).toBeUndefined();
    }
  });
});

describe('decideContentType', () => {
  it('stores what the bytes are when the client declared nothing, or octet-stream', () => {
    expect(decide('application/octet-stream', 'image/png')).toEqual({ contentType: 'image/png' });
    expect(decide('application/octet-stream; x=y', 'application/pdf')).toEqual({ contentType: 'application/pdf' });
    expect(decide('application/octet-stream', undefined)).toEqual({ contentType: 'application/octet-stream' });
  });

  it("a new version without a type keeps its asset's when the bytes agree or show nothing, else takes theirs", () => {
    expect(decide('application/octet-stream', undefined, 'text/plain; charset=utf-8')).toEqual({ contentType: 'text/plain; charset=utf-8' });
    expect(decide('application/octet-stream', 'image/apng', 'image/png')).toEqual({ contentType: 'image/png' });
    expect(decide('application/octet-stream', 'image/jpeg', 'image/png')).toEqual({ contentType: 'image/jpeg' });
    expect(decide('application/octet-stream', 'image/png', 'application/octet-stream')).toEqual({ contentType: 'image/png' });
  });

  it('refuses a declared image type the bytes contradict, naming both', () => {
    expect(decide('image/png', 'image/jpeg')).toEqual({ refused: { declared: 'image/png', detected: 'image/jpeg' } });
    expect(decide('image/webp', 'application/pdf')).toEqual({ refused: { declared: 'image/webp', detected: 'application/pdf' } });
    expect(decide('image/svg+xml', 'image/png')).toEqual({ refused: { declared: 'image/svg+xml', detected: 'image/png' } });
    expect(decide('IMAGE/PNG; q=1', 'application/zip')).toEqual({ refused: { declared: 'IMAGE/PNG; q=1', detected: 'application/zip' } });
  });

  it('takes a declared type the bytes agree with, show nothing of, or that is not an image', () => {
    expect(decide('image/png', 'image/png')).toEqual({ contentType: 'image/png' });
    expect(decide('image/jpg', 'image/jpeg')).toEqual({ contentType: 'image/jpg' });
    expect(decide('image/png', undefined)).toEqual({ contentType: 'image/png' });
    expect(decide('image/svg+xml', 'application/xml')).toEqual({ contentType: 'image/svg+xml' });
    expect(decide('text/plain', 'image/png')).toEqual({ contentType: 'text/plain' });
    expect(decide('application/zip', 'application/pdf')).toEqual({ contentType: 'application/zip' });
  });

  it('a copy is never refused: it brings back bytes stored once', () => {
    expect(decide('image/png', 'image/jpeg', undefined, false)).toEqual({ contentType: 'image/png' });
  });

  it('agrees by format, whatever the spelling', () => {
    expect(agrees('image/heic', 'image/heif')).toBe(true);
    expect(agrees('image/x-icon', 'image/x-icon')).toBe(true);
    expect(agrees('image/vnd.microsoft.icon', 'image/x-icon')).toBe(true);
    expect(agrees('image/png', 'image/jpeg')).toBe(false);
    expect(agrees('not a type', 'image/png')).toBe(false);
  });
});

it('a refusal is read back from the message a failed session keeps', () => {
  const refused = { declared: 'image/png; name="a b"', detected: 'image/jpeg' };
  expect(refusedTypesIn(refusalMessage(refused))).toEqual(refused);
  expect(refusedTypesIn('checksum mismatch: ...')).toBeUndefined();
  expect(refusedTypesIn(null)).toBeUndefined();
});

it('no type sniffing can give is served inline unless it is a raster image, audio or video', () => {
  for (const mime of mimeTypes) {
    if (presentationOf(mime).disposition === 'inline') expect(mime).toMatch(/^(image\/(png|jpeg|gif|webp|avif|bmp)|audio\/[a-z0-9.+-]+|video\/[a-z0-9.+-]+)$/);
  }
});

test('a commit skips the read only where the bytes could not change the decision', () => {
  const declaredTypes = ['application/pdf', 'text/plain', 'image/png', 'image/svg+xml', 'application/octet-stream', 'video/mp4'];
  const detectedTypes = [undefined, 'image/png', 'image/jpeg', 'application/pdf', 'application/zip'];
  for (const declared of declaredTypes)
    for (const refuses of [true, false]) {
      if (typeDependsOnBytes({ declared, refuses })) continue;
      for (const detected of detectedTypes)
        for (const current of [undefined, 'text/plain', 'image/png'])
          expect({ declared, refuses, detected, current, decided: decideContentType({ declared, detected, current, refuses }) }).toEqual({
            declared,
            refuses,
            detected,
            current,
            decided: { contentType: declared },
          });
    }
  expect(typeDependsOnBytes({ declared: 'image/png', refuses: true })).toBe(true);
  expect(typeDependsOnBytes({ declared: 'application/octet-stream', refuses: false })).toBe(true);
});
