// The server's admission control on its own: how many requests reach the engine, what the
// gauges say, when the queue refuses, and the order in which waiting requests start.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Admission } from '../lib/server/admission.js';
import { HttpError } from '../lib/server/errors.js';

const never = new AbortController().signal;

describe('server admission', () => {
  it('hands up to `slots` waiting requests to the engine, and counts them as queued', async () => {
    const admission = new Admission(2, 8);
    const releases = await Promise.all([1, 2, 3, 4].map(() => admission.acquire(never)));
    assert.equal(admission.handoff, 2);
    assert.equal(admission.active, 2);
    assert.equal(admission.queued, 2, 'two run, two wait in the engine');
    let fifthStarted = false;
    const fifth = admission.acquire(never).then((release) => {
      fifthStarted = true;
      return release;
    });
    await Promise.resolve();
    assert.equal(fifthStarted, false, 'the fifth waits here');
    assert.equal(admission.queued, 3);
    releases[0]!();
    const release5 = await fifth;
    assert.equal(admission.active, 2);
    assert.equal(admission.queued, 2);
    for (const release of [...releases.slice(1), release5]) release();
    await admission.idle();
    assert.equal(admission.active + admission.queued, 0);
  });

  it('refuses with 503 once `maxQueue` requests wait, handed off or not', async () => {
    const admission = new Admission(1, 1);
    assert.equal(admission.handoff, 1);
    await admission.acquire(never);
    await admission.acquire(never); // waits in the engine's queue
    await assert.rejects(admission.acquire(never), (error: unknown) => error instanceof HttpError && error.status === 503);
    const none = new Admission(1, 0);
    assert.equal(none.handoff, 0, 'no queue: nothing is handed off either');
    await none.acquire(never);
    await assert.rejects(none.acquire(never), (error: unknown) => error instanceof HttpError && error.status === 503);
  });

  it('starts waiting requests first come first served; one that leaves gives up its place', async () => {
    const admission = new Admission(1, 4);
    const first = await admission.acquire(never);
    const second = await admission.acquire(never);
    const order: string[] = [];
    const leaving = new AbortController();
    const third = admission.acquire(leaving.signal).then(() => order.push('third'), () => order.push('third left'));
    const fourth = admission.acquire(never).then((release) => {
      order.push('fourth');
      return release;
    });
    leaving.abort(new Error('gone'));
    await third;
    first();
    (await fourth)();
    second();
    assert.deepEqual(order, ['third left', 'fourth']);
    await admission.idle();
  });
});
