/**
 * `llama-napi run` in a pseudo-terminal, where a person types: the interactive chat (a
 * message and its reply, /clear, Ctrl-C stopping a reply mid-stream with the process staying
 * alive, Ctrl-D and Ctrl-C at the prompt exiting), a one-shot run stopped by Ctrl-C, and
 * what only a terminal gets (the prompt echoed, colour, a progress bar).
 * The pseudo-terminal is util-linux `script`; without it these tests are skipped, with the reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PtySession, ptyUnavailable, staleBuild } from './child/cli-spawn.js';
import { fixtureModel } from './fixtures/models.js';

const skip = ptyUnavailable() ?? false;
let model: string;
const sessions: PtySession[] = [];

before(async () => {
  const stale = staleBuild();
  if (stale) throw new Error(stale);
  model = await fixtureModel({ kind: 'moe', type: 'Q8_0' });
});
after(() => sessions.forEach((s) => s.alive && s.kill()));

function start(args: string[]): PtySession {
  const session = new PtySession(args);
  sessions.push(session);
  return session;
}

/** The prompt of the chat: readline redraws it as `> ` (after --color's escape codes, if any). */
const PROMPT = /(^|\n|\x1b\[0J)> /;

describe('interactive chat in a terminal', { skip }, () => {
  it('a message and its reply; Ctrl-C stops a long reply and the chat goes on; /clear; Ctrl-D exits 0', async () => {
    // The model card's chat-style line (its -p replaced by -i -ins), with -c 4096 for this
    // fixture: with -n -1 a reply runs for seconds unless stopped. -s 1: a fixed seed, so
    // that the random weights cannot end the reply early by chance.
    const chat = start(['run', '-ngl', '35', '-m', model, '--color', '-c', '4096', '--temp', '0.7', '--repeat_penalty', '1.1', '-n', '-1', '-i', '-ins', '-s', '1']);
    let at = await chat.waitFor(PROMPT);
    assert.match(chat.output, /loading \[#+-*\] +\d+%/, 'a progress bar on a terminal');
    chat.type('Hello\r');
    at = await chat.waitFor(/Hello\r*\n/, at);
    await chat.waitFor(/\S{20,}/, at); // the reply streams
    chat.type('\x03');
    at = await chat.waitFor(/\(reply stopped\)/, at);
    at = await chat.waitFor(PROMPT, at);
    assert.ok(chat.alive, 'Ctrl-C during a reply keeps the chat alive');
    assert.match(chat.output, /\x1b\[32m/, '--color colours the input on a terminal');

    chat.type('/clear\r');
    at = await chat.waitFor(/\(conversation cleared\)/, at);
    at = await chat.waitFor(PROMPT, at);
    chat.type('\x04');
    const { code } = await chat.exited;
    assert.equal(code, 0, chat.output.slice(-2000));
  });

  it('Ctrl-C at the prompt exits with 130', async () => {
    const chat = start(['run', '-m', model, '-c', '256', '-n', '4', '-i']);
    await chat.waitFor(PROMPT);
    chat.type('\x03');
    const { code } = await chat.exited;
    assert.equal(code, 130, chat.output.slice(-2000));
  });

  it('Ctrl-C at a prompt with typed text clears the line instead', async () => {
    const chat = start(['run', '-m', model, '-c', '256', '-n', '2', '-i']);
    let at = await chat.waitFor(PROMPT);
    chat.type('half a thought');
    at = await chat.waitFor(/half a thought/, at);
    chat.type('\x03');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(chat.alive);
    chat.type('hi\r');
    at = await chat.waitFor(/hi\r*\n/, at);
    await chat.waitFor(PROMPT, at);
    chat.type('\x04');
    assert.equal((await chat.exited).code, 0, chat.output.slice(-2000));
  });
});

describe('one-shot run in a terminal', { skip }, () => {
  it('echoes the prompt, streams, and Ctrl-C stops it with exit 130', async () => {
    const run = start(['run', '-m', model, '-c', '4096', '-n', '-1', '-s', '1', '-p', '[INST] Go on [/INST]']);
    const at = await run.waitFor(/\[INST\] Go on \[\/INST\]/);
    await run.waitFor(/\S{20,}/, at);
    run.type('\x03');
    const { code } = await run.exited;
    assert.equal(code, 130, run.output.slice(-2000));
    assert.match(run.output, /finish: abort/);
  });
});
