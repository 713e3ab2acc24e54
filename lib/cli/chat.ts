/**
 * `llama-napi run -i` / `-cnv`: an interactive chat in the model's own template, through the
 * library's ChatSession (each turn evaluates only its own tokens; when the conversation
 * outgrows the context the session drops the oldest turns, its default overflow policy).
 *
 * Keys, on a terminal: line editing and history (node:readline); Ctrl-C stops the reply
 * being written; Ctrl-C at an empty prompt exits (130); Ctrl-D at an empty prompt exits (0).
 * `/clear` starts a new conversation, `/exit` ends. Without a terminal, each input line is
 * one message and end of input ends the chat; no prompt is printed, so stdout is the replies.
 */
import { createInterface, type Interface } from 'node:readline';
import type { ChatSession, GenerateOptions, Generation } from '../index.js';
import { EXIT } from './exit-codes.js';
import type { Loaded } from './load.js';
import type { Terminal } from './terminal.js';

/** What an interactive chat needs. */
export interface ChatRun {
  readonly term: Terminal;
  readonly generate: GenerateOptions;
  readonly systemPrompt: string | undefined;
  /** `-p` with `-i`: sent as the first message. */
  readonly firstMessage: string | undefined;
  readonly load: (signal: AbortSignal) => Promise<Loaded>;
}

/** Loads the model, then chats until end of input, `/exit` or Ctrl-C at the prompt. */
export async function runChat(run: ChatRun): Promise<number> {
  const loading = new AbortController();
  const stopLoad = (): void => loading.abort();
  process.on('SIGINT', stopLoad);
  let loaded: Loaded;
  try {
    loaded = await run.load(loading.signal);
  } finally {
    process.off('SIGINT', stopLoad);
  }
  try {
    return await chatLoop(loaded, run);
  } finally {
    await loaded.model.dispose();
  }
}

async function chatLoop(loaded: Loaded, run: ChatRun): Promise<number> {
  const { term } = run;
  const { stdin, stdout } = term.streams;
  const isTerminal = stdin.isTTY === true && stdout.isTTY === true;
  const newSession = (): ChatSession =>
    loaded.context.createChatSession(run.systemPrompt === undefined ? {} : { systemPrompt: run.systemPrompt });
  let session = newSession();
  let current: Generation | undefined;
  let exitCode: number = EXIT.ok;

  const rl: Interface = createInterface({ input: stdin, output: stdout, terminal: isTerminal, historySize: 200 });
  // Typed text shows in green with --color: the prompt ends by switching the colour on.
  rl.setPrompt(`> ${term.colourStart('green')}`);
  const onInterrupt = (): void => {
    if (current) return current.abort(); // stop the reply, stay in the chat
    if (isTerminal && rl.line.length > 0) return rl.write(null, { ctrl: true, name: 'u' }); // clear the line
    exitCode = EXIT.interrupted;
    rl.close();
  };
  rl.on('SIGINT', onInterrupt);
  process.on('SIGINT', onInterrupt);
  const prompt = (): void => {
    if (isTerminal) rl.prompt();
  };

  term.note(`llama-napi: chatting with ${loaded.path} in its chat template. /clear starts over, Ctrl-C stops a reply, Ctrl-D exits.`);
  const turn = async (text: string): Promise<void> => {
    const before = session.messages.length;
    current = session.send(text, run.generate);
    try {
      for await (const chunk of current) term.out(chunk.text);
      const result = await current.result;
      term.out('\n');
      if (result.finishReason === 'abort') term.note('llama-napi: (reply stopped)');
      if (result.finishReason === 'length') term.note('llama-napi: (reply cut at the length limit)');
      if (session.messages.length < before + 2) term.note('llama-napi: (the oldest turns were dropped to fit the context)');
    } catch (error) {
      term.out('\n');
      term.note(`llama-napi: ${(error as { code?: string }).code ?? 'error'}: ${(error as Error).message}`);
    } finally {
      current = undefined;
    }
  };

  try {
    if (run.firstMessage !== undefined) {
      if (isTerminal) term.out(`> ${term.paint(run.firstMessage, 'green')}\n`);
      await turn(run.firstMessage);
    }
    prompt();
    for await (const line of rl) {
      term.out(term.colourEnd());
      const text = line.trim();
      if (text === '/exit' || text === '/quit') break;
      if (text === '/clear') {
        session = newSession();
        term.note('llama-napi: (conversation cleared)');
      } else if (text !== '') {
        await turn(line);
      }
      prompt();
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    rl.close();
    term.out(term.colourEnd());
    if (isTerminal) term.out('\n');
  }
  return exitCode;
}
