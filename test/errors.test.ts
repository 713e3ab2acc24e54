// Unit tests of errors (codes, conversion of native errors, caller stacks) and the logger. Pure
// TypeScript: no addon needed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERROR_CODES, LlamaError, callNative, fromNativeError, isErrorCode, isLlamaError } from '../lib/errors.js';
import { noop } from '../lib/lifetime.js';
import { guardCallback, log, setLogger, type LogLevel } from '../lib/logger.js';

describe('errors', () => {
  it('LlamaError has a name, a code and a cause', () => {
    const cause = new Error('inner');
    const error = new LlamaError('ERR_MODEL_LOAD', 'cannot load', { cause });
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'LlamaError');
    assert.equal(error.code, 'ERR_MODEL_LOAD');
    assert.equal(error.cause, cause);
    assert.match(String(error), /^LlamaError: cannot load/);
    assert.ok(isLlamaError(error, 'ERR_MODEL_LOAD'));
    assert.ok(!isLlamaError(error, 'ERR_DISPOSED'));
  });

  it('converts native errors by their code', () => {
    const native = Object.assign(new Error('decode failed'), { code: 'ERR_DECODE' });
    const converted = fromNativeError(native);
    assert.ok(converted instanceof LlamaError);
    assert.equal((converted as LlamaError).code, 'ERR_DECODE');
    assert.equal(converted.message, 'decode failed');
    assert.equal(converted.cause, native);
    assert.equal((fromNativeError(new Error('?')) as LlamaError).code, 'ERR_NATIVE');
    assert.equal((fromNativeError(Object.assign(new Error('?'), { code: 'EWHAT' }), 'ERR_DECODE') as LlamaError).code, 'ERR_DECODE');
    assert.equal((fromNativeError('text') as LlamaError).code, 'ERR_NATIVE');
    const typeError = new TypeError('bad');
    assert.equal(fromNativeError(typeError), typeError);
    assert.equal((typeError as { code?: unknown }).code, 'ERR_INVALID_ARG', 'an uncoded argument error gets the code');
    const coded = Object.assign(new RangeError('bad'), { code: 'ERR_OUT_OF_RANGE' });
    assert.equal((fromNativeError(coded) as { code?: unknown }).code, 'ERR_OUT_OF_RANGE', 'a code of its own is kept');
  });

  it('every code has one source: the ErrorCode list', () => {
    assert.ok(ERROR_CODES.length > 0 && new Set(ERROR_CODES).size === ERROR_CODES.length);
    for (const code of ERROR_CODES) assert.ok(isErrorCode(code), code);
    assert.ok(!isErrorCode('ERR_SOMETHING_ELSE'));
    assert.ok(Object.isFrozen(ERROR_CODES));
  });

  it("callNative gives a native rejection the caller's stack", async () => {
    async function userFunctionThatCallsNative(): Promise<void> {
      await callNative(async () => {
        await new Promise((resolve) => setImmediate(resolve));
        throw Object.assign(new Error('boom'), { code: 'ERR_CONTEXT_CREATE' });
      });
    }
    const error = await userFunctionThatCallsNative().catch((e: LlamaError) => e);
    assert.ok(error instanceof LlamaError);
    assert.equal(error.code, 'ERR_CONTEXT_CREATE');
    assert.match(error.stack ?? '', /^LlamaError: boom\n/);
    assert.match(error.stack ?? '', /userFunctionThatCallsNative/);
  });

  it('callNative passes results through', async () => {
    assert.equal(await callNative(async () => 7), 7);
  });
});

describe('logger', () => {
  it('is quiet by default and delivers at or above the chosen level', () => {
    const lines: Array<[LogLevel, string]> = [];
    log('error', 'nobody listens'); // no logger: dropped, no throw
    setLogger((level, message) => lines.push([level, message]), { level: 'info' });
    try {
      log('debug', 'hidden');
      log('info', 'shown');
      log('error', 'also shown');
    } finally {
      setLogger(null);
    }
    log('error', 'after removal');
    assert.deepEqual(lines, [
      ['info', 'shown'],
      ['error', 'also shown'],
    ]);
  });

  it('a throwing logger cannot throw into the library', () => {
    setLogger(() => {
      throw new Error('broken logger');
    });
    try {
      assert.doesNotThrow(() => log('error', 'x'));
    } finally {
      setLogger(null);
    }
  });

  it('guards user callbacks and reports what they threw', () => {
    const lines: string[] = [];
    setLogger((_level, message) => lines.push(message));
    try {
      const guarded = guardCallback('onProgress', (_progress: number) => {
        throw new Error('user bug');
      });
      assert.doesNotThrow(() => guarded(0.5));
    } finally {
      setLogger(null);
    }
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /onProgress callback threw \(ignored\): user bug/);
  });

  it('validates its arguments', () => {
    assert.throws(() => setLogger('console' as never), TypeError);
    assert.throws(() => setLogger(noop, { level: 'verbose' as never }), RangeError);
    setLogger(null);
  });
});
