// Unit tests of streamed text: UTF-8 decoding across chunk boundaries and stop strings. Pure
// TypeScript: no addon needed. The Generation state machine is in generation.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TextStream } from '../lib/text-stream.js';

const utf8 = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Feeds `chunks` to a stream; returns every emitted text, their concatenation and the stop state. */
function feed(stops: readonly string[], chunks: readonly Uint8Array[]) {
  const stream = new TextStream(stops);
  const texts: string[] = [];
  for (const chunk of chunks) texts.push(stream.push(chunk).text);
  texts.push(stream.end().text);
  for (const text of texts) assert.doesNotMatch(text, LONE_SURROGATE, 'every chunk is well-formed');
  return { texts, text: texts.join(''), stopped: stream.stopped, stopString: stream.stopString };
}

/** Splits `bytes` at the given cut positions. */
function cut(bytes: Uint8Array, ...positions: number[]): Uint8Array[] {
  const edges = [0, ...positions, bytes.length];
  return edges.slice(1).map((end, i) => bytes.subarray(edges[i], end));
}

/** What a correct stream must output: the text before the earliest stop string. */
function expectedOutput(text: string, stops: readonly string[]): string {
  let end = text.length;
  for (const stop of stops) {
    const index = text.indexOf(stop);
    if (index !== -1 && index < end) end = index;
  }
  return text.slice(0, end);
}

describe('TextStream: UTF-8 across chunk boundaries', () => {
  const samples = ['aé€😀中文b', '😀😀', '日本語のテキスト', 'ß∑🇺🇳👩‍👩‍👧', 'plain ascii'];

  for (const sample of samples) {
    it(`decodes ${JSON.stringify(sample)} split at every pair of positions`, () => {
      const bytes = utf8.encode(sample);
      for (let i = 0; i <= bytes.length; i++) {
        for (let j = i; j <= bytes.length; j++) {
          const { texts, text } = feed([], cut(bytes, i, j));
          assert.equal(text, sample, `cuts at ${i}, ${j}`);
          // No chunk ends inside a character: each one round-trips through UTF-8 by itself.
          for (const chunk of texts) assert.equal(new TextDecoder().decode(utf8.encode(chunk)), chunk);
        }
      }
    });
  }

  it('decodes one byte at a time', () => {
    const sample = '€😀中';
    const bytes = utf8.encode(sample);
    const { texts, text } = feed([], cut(bytes, ...Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)));
    assert.equal(text, sample);
    assert.deepEqual(texts.filter((t) => t !== ''), ['€', '😀', '中']);
  });

  it('holds an incomplete character until it completes', () => {
    const stream = new TextStream();
    const euro = utf8.encode('€');
    assert.equal(stream.push(euro.subarray(0, 1)).text, '');
    assert.equal(stream.push(euro.subarray(1, 2)).text, '');
    assert.equal(stream.push(euro.subarray(2)).text, '€');
  });

  it('turns invalid bytes into U+FFFD', () => {
    assert.equal(feed([], [Uint8Array.of(0x61, 0xff, 0x62)]).text, 'a\uFFFDb');
    assert.equal(feed([], [Uint8Array.of(0xc0, 0x80)]).text, '\uFFFD\uFFFD');
    // A lone surrogate encoded as UTF-8 (CESU) is invalid too.
    assert.doesNotMatch(feed([], [Uint8Array.of(0xed, 0xa0, 0x80)]).text, LONE_SURROGATE);
  });

  it('flushes an incomplete character at the end as U+FFFD', () => {
    const euro = utf8.encode('€');
    assert.equal(feed([], [euro.subarray(0, 2)]).text, '\uFFFD');
  });

  it('keeps a leading byte order mark (it is model output, not a file header)', () => {
    assert.equal(feed([], [utf8.encode('\uFEFFx')]).text, '\uFEFFx');
  });

  it('passes text through at once when there are no stop strings', () => {
    const stream = new TextStream();
    assert.equal(stream.push(utf8.encode('<')).text, '<');
    assert.equal(stream.push(utf8.encode('/s')).text, '/s');
  });
});

describe('TextStream: stop strings', () => {
  it('never emits any part of a stop string split at every position', () => {
    const sample = 'Hello</s>world';
    const bytes = utf8.encode(sample);
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        const result = feed(['</s>'], cut(bytes, i, j));
        assert.equal(result.text, 'Hello', `cuts at ${i}, ${j}`);
        assert.equal(result.stopped, true);
        assert.equal(result.stopString, '</s>');
      }
    }
  });

  it('holds back a possible prefix and releases it when it does not match', () => {
    const stream = new TextStream(['Hello']);
    assert.deepEqual(stream.push(utf8.encode('Hel')), { text: '', stopped: false });
    assert.deepEqual(stream.push(utf8.encode('lp')), { text: 'Hellp', stopped: false });
  });

  it('releases held-back text at the end when the stop never completes', () => {
    assert.deepEqual(feed(['STOP'], [utf8.encode('abc ST')]).texts, ['abc ', 'ST']);
  });

  it('stops at the very start', () => {
    const result = feed(['</s>'], [utf8.encode('</s>after')]);
    assert.equal(result.text, '');
    assert.equal(result.stopped, true);
  });

  it('uses the earliest of several stop strings', () => {
    assert.equal(feed(['END', 'STOP'], [utf8.encode('a STOP b END')]).text, 'a ');
    assert.equal(feed(['STOP', 'END'], [utf8.encode('a END b STOP')]).text, 'a ');
  });

  it('handles overlapping stop strings', () => {
    assert.equal(feed(['abc', 'bcd'], [utf8.encode('xabcd')]).text, 'x');
    assert.equal(feed(['bcd', 'abc'], [utf8.encode('xab'), utf8.encode('cd')]).text, 'x');
    assert.equal(feed(['ab', 'b'], [utf8.encode('ab')]).text, '');
    assert.equal(feed(['aab'], [utf8.encode('a'), utf8.encode('a'), utf8.encode('a'), utf8.encode('b')]).text, 'a');
    assert.equal(feed(['abab'], [utf8.encode('aba'), utf8.encode('bab')]).text, '');
  });

  it('matches multi-byte stop strings split inside a character', () => {
    const bytes = utf8.encode('hi 😀 there');
    for (let i = 0; i <= bytes.length; i++) {
      assert.equal(feed(['😀'], cut(bytes, i)).text, 'hi ', `cut at ${i}`);
    }
    assert.equal(feed(['中文'], cut(utf8.encode('日本中文'), 7)).text, '日本');
  });

  it('emits nothing after the stop', () => {
    const stream = new TextStream(['x']);
    assert.deepEqual(stream.push(utf8.encode('ax')), { text: 'a', stopped: true });
    assert.deepEqual(stream.push(utf8.encode('more')), { text: '', stopped: true });
    assert.deepEqual(stream.end(), { text: '', stopped: true });
  });

  it('ignores empty stop strings', () => {
    assert.equal(feed([''], [utf8.encode('abc')]).text, 'abc');
  });

  it('agrees with a reference on random texts, stops and chunkings', () => {
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const alphabet = ['a', 'b', 'c', 'é', '😀', '中'];
    const word = (length: number): string => Array.from({ length }, () => alphabet[random(alphabet.length)]).join('');
    for (let round = 0; round < 2000; round++) {
      const text = word(random(14));
      const stops = Array.from({ length: 1 + random(3) }, () => word(1 + random(3)));
      const bytes = utf8.encode(text);
      const cuts = Array.from({ length: random(5) }, () => random(bytes.length + 1)).sort((a, b) => a - b);
      const stream = new TextStream(stops);
      const expected = expectedOutput(text, stops);
      let emitted = '';
      for (const chunk of cut(bytes, ...cuts)) {
        emitted += stream.push(chunk).text;
        assert.ok(expected.startsWith(emitted), `prefix invariant: ${JSON.stringify({ text, stops, emitted })}`);
      }
      emitted += stream.end().text;
      assert.equal(emitted, expected, JSON.stringify({ text, stops, cuts }));
      assert.equal(stream.stopped, expected.length < text.length || stops.some((s) => text.includes(s)));
    }
  });
});
