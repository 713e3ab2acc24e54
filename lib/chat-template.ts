/**
 * Chat formatting: llama.cpp's template support renders the conversation as text; this file
 * turns that text into tokens exactly.
 *
 * Two things make plain `tokenize(text, { parseSpecial: true })` wrong for chat:
 * - Text a user typed that looks like a special token (`</s>`) would become that token.
 *   So llama.cpp renders the conversation twice, once with placeholders for the contents,
 *   which tells which characters came from the template and which from a message; special
 *   tokens are only recognised in the template's own text.
 * - Mistral's instruct format is defined by its tokenization recipe, not by a string:
 *   `[BOS] + tok("[INST]") + tok(user) + tok("[/INST]") + tok(answer) + [EOS] + …`, where
 *   each piece is tokenized on its own (so each gets SentencePiece's leading space). For
 *   templates with `[INST]` markers the markers are therefore tokenized as separate pieces,
 *   the whitespace around them dropped (the leading space of the next piece stands for it).
 *   Every other template is tokenized as one text, split only at special tokens, exactly as
 *   llama.cpp's tokenizer would split it.
 */
import { LlamaError } from './errors.js';
import { rangeError, toWellFormed, typeError } from './validate.js';

/** One message of a conversation. */
export interface ChatMessage {
  /** `'system'`, `'user'` or `'assistant'` (templates may know others, e.g. `'tool'`). */
  role: string;
  /** The message text. Special-token text in it (e.g. `"</s>"`) stays text unless {@link ChatTemplateOptions.specialTokensInContent}. */
  content: string;
}

/** What chat formatting needs from a model's vocabulary. @internal */
export interface ChatVocabulary {
  /** llama_chat_apply_template; `template` null = the model's own. */
  render(template: string | null, messages: readonly ChatMessage[], addAssistant: boolean): string;
  /** Control/unknown tokens with their text, longest text first. */
  controlTokens(): ReadonlyArray<readonly [number, string]>;
  /** Tokenizes one piece of raw text: no BOS/EOS added, special-token text left as text. */
  tokenizeRaw(text: string): Int32Array;
  /** {@link ChatVocabulary.tokenizeRaw} for several texts at once, off the JS thread. */
  tokenizeRawMany(texts: string[]): Promise<Int32Array[]>;
  /** BOS id, and whether the model wants it in front of every prompt. */
  readonly bosToken: number;
  readonly addBos: boolean;
}

/** A formatted conversation. @internal */
export interface FormattedChat {
  /** The text llama.cpp's template produced. */
  text: string;
  /** The prompt tokens (BOS included once when the model wants it). */
  tokens: number[];
  /**
   * Index into `tokens` just past the last message's content, when that content is tokenized
   * on its own (no template text merged into it); what follows is the template's closing of
   * that message (e.g. `</s>`). `null` when the boundary is not a token boundary.
   */
  afterLastContent: number | null;
}

/** A piece of the rendered text: a special token, template text, or (part of) a message. */
type Piece =
  | { kind: 'special'; token: number }
  | { kind: 'template'; text: string }
  | { kind: 'marker'; text: string }
  | { kind: 'content'; text: string; message: number };

/** Placeholder delimiters: private-use characters that no template produces. */
const OPEN = '\uF8F0';
const CLOSE = '\uF8F1';
const PLACEHOLDER = new RegExp(`${OPEN}(\\d+)${CLOSE}`);
/** Mistral's instruct markers and the whitespace around them. */
const INST_MARKER = /\s*(\[\/?INST\])\s*/;

/**
 * Formats `messages` and tokenizes the result (see the file comment for the rules).
 * @throws LlamaError `ERR_CHAT_TEMPLATE` when the template is missing or unknown to llama.cpp
 * @internal
 */
export function formatChat(
  vocab: ChatVocabulary,
  messages: readonly ChatMessage[],
  addAssistant: boolean,
  options: ChatFormatOptions,
): FormattedChat {
  const plan = planChat(vocab, messages, addAssistant, options);
  return assemble(vocab, plan, textsOf(plan).map((text) => vocab.tokenizeRaw(text)));
}

/**
 * {@link formatChat} with the texts tokenized off the JS thread (`vocab.tokenizeRawMany`), for
 * long conversations.
 * @internal
 */
export async function formatChatAsync(
  vocab: ChatVocabulary,
  messages: readonly ChatMessage[],
  addAssistant: boolean,
  options: ChatFormatOptions,
): Promise<FormattedChat> {
  const plan = planChat(vocab, messages, addAssistant, options);
  return assemble(vocab, plan, await vocab.tokenizeRawMany(textsOf(plan)));
}

/** Template and content rules of {@link formatChat}. @internal */
export interface ChatFormatOptions {
  template: string | null;
  specialTokensInContent: boolean;
}

/** Renders the conversation and cuts it into the parts that are tokenized separately. */
function planChat(vocab: ChatVocabulary, messages: readonly ChatMessage[], addAssistant: boolean, options: ChatFormatOptions): ChatPlan {
  const text = vocab.render(options.template, messages, addAssistant);
  let pieces = locateContents(vocab, messages, addAssistant, options.template, text);
  pieces = splitSpecials(pieces, vocab.controlTokens(), options.specialTokensInContent);
  const mistral = pieces.some((p) => p.kind === 'template' && p.text.includes('[INST]'));
  if (mistral) pieces = splitMarkers(pieces);
  return planPieces(text, pieces, messages.length - 1, mistral);
}

/**
 * Splits the rendered text into template text and message contents, by rendering again with
 * a placeholder in place of each content. Templates may trim contents: each content is
 * matched as given, then trimmed.
 */
function locateContents(
  vocab: ChatVocabulary,
  messages: readonly ChatMessage[],
  addAssistant: boolean,
  template: string | null,
  text: string,
): Piece[] {
  const skeleton = vocab.render(
    template,
    messages.map((m, i) => ({ role: m.role, content: `${OPEN}${i}${CLOSE}` })),
    addAssistant,
  );
  const parts = skeleton.split(PLACEHOLDER); // template, index, template, index, …, template
  const pieces: Piece[] = [];
  let at = 0;
  for (let i = 0; i < parts.length; i += 2) {
    const templateText = parts[i]!;
    if (!text.startsWith(templateText, at)) throw unlocatable();
    if (templateText.length > 0) pieces.push({ kind: 'template', text: templateText });
    at += templateText.length;
    if (i + 1 >= parts.length) break;
    const message = Number(parts[i + 1]);
    const next = parts[i + 2]!;
    const content = messages[message]!.content;
    const match = [content, content.trim(), content.trimStart(), content.trimEnd()].find(
      (candidate) => text.startsWith(candidate, at) && text.startsWith(next, at + candidate.length),
    );
    if (match === undefined) throw unlocatable();
    if (match.length > 0) pieces.push({ kind: 'content', text: match, message });
    at += match.length;
  }
  if (at !== text.length) throw unlocatable();
  return pieces;
}

/** Cuts special-token text out of template pieces (and of contents when allowed), longest token first, as llama.cpp's tokenizer does. */
function splitSpecials(pieces: Piece[], specials: ReadonlyArray<readonly [number, string]>, inContent: boolean): Piece[] {
  let out = pieces;
  for (const [token, special] of specials) {
    const next: Piece[] = [];
    for (const piece of out) {
      const splittable = piece.kind === 'template' || (inContent && piece.kind === 'content');
      if (!splittable || !piece.text.includes(special)) {
        next.push(piece);
        continue;
      }
      const parts = piece.text.split(special);
      parts.forEach((part, i) => {
        if (i > 0) next.push({ kind: 'special', token });
        if (part.length > 0) next.push({ ...piece, text: part });
      });
    }
    out = next;
  }
  return out;
}

/** Makes each `[INST]` / `[/INST]` in template text a piece of its own, dropping the whitespace around it. */
function splitMarkers(pieces: Piece[]): Piece[] {
  const out: Piece[] = [];
  for (const piece of pieces) {
    if (piece.kind !== 'template') {
      out.push(piece);
      continue;
    }
    const parts = piece.text.split(INST_MARKER); // text, marker, text, marker, …, text
    parts.forEach((part, i) => {
      if (i % 2 === 1) out.push({ kind: 'marker', text: part });
      else if (part.length > 0) out.push({ kind: 'template', text: part });
    });
  }
  return out;
}

/**
 * The prompt before tokenization: special token ids (numbers) and texts to tokenize raw
 * (strings), in order; `partsBeforeLastEnd` counts the parts before the boundary just past the
 * last message's content (null: that boundary is not a token boundary).
 */
interface ChatPlan {
  text: string;
  parts: Array<number | string>;
  partsBeforeLastEnd: number | null;
}

/**
 * Plans the tokenization of the pieces: special tokens as they are, markers alone, and each run
 * of template text and contents between them as one text. In the Mistral format a run of only
 * whitespace is dropped: there the pieces' own leading spaces are the separators.
 */
function planPieces(text: string, pieces: Piece[], lastMessage: number, mistral: boolean): ChatPlan {
  const parts: Array<number | string> = [];
  let partsBeforeLastEnd = null as number | null; // set inside flush()
  let run = '';
  let runHasLast = false; // the run holds the last message's content…
  let textAfterLast = false; // …followed by template text, so no token boundary after it
  const flush = (): void => {
    if (run.length > 0 && !(mistral && run.trim().length === 0)) parts.push(run);
    if (runHasLast) partsBeforeLastEnd = textAfterLast ? null : parts.length;
    run = '';
    runHasLast = textAfterLast = false;
  };
  for (const piece of pieces) {
    switch (piece.kind) {
      case 'special':
        flush();
        parts.push(piece.token);
        break;
      case 'marker':
        flush();
        parts.push(piece.text);
        break;
      case 'template':
        run += piece.text;
        if (runHasLast && !(mistral && piece.text.trim().length === 0)) textAfterLast = true;
        break;
      case 'content':
        run += piece.text;
        if (piece.message === lastMessage) {
          runHasLast = true;
          textAfterLast = false;
        } else if (runHasLast) {
          textAfterLast = true;
        }
        break;
    }
  }
  flush();
  return { text, parts, partsBeforeLastEnd };
}

/** The texts of a plan to tokenize, in order. */
function textsOf(plan: ChatPlan): string[] {
  return plan.parts.filter((part): part is string => typeof part === 'string');
}

/** Puts the plan's tokens together (`tokenized`: one array per text of the plan) and adds BOS. */
function assemble(vocab: ChatVocabulary, plan: ChatPlan, tokenized: readonly Int32Array[]): FormattedChat {
  const tokens: number[] = [];
  let afterLastContent = null as number | null;
  let next = 0;
  plan.parts.forEach((part, i) => {
    if (i === plan.partsBeforeLastEnd) afterLastContent = tokens.length;
    if (typeof part === 'number') tokens.push(part);
    else for (const id of tokenized[next++]!) tokens.push(id); // no push(...ids): arguments are limited
  });
  if (plan.partsBeforeLastEnd === plan.parts.length) afterLastContent = tokens.length;
  if (vocab.addBos && vocab.bosToken >= 0 && tokens[0] !== vocab.bosToken) {
    tokens.unshift(vocab.bosToken);
    if (afterLastContent !== null) afterLastContent += 1;
  }
  return { text: plan.text, tokens, afterLastContent };
}

function unlocatable(): LlamaError {
  return new LlamaError(
    'ERR_CHAT_TEMPLATE',
    'Cannot tell the messages apart from the template text in the formatted conversation',
  );
}

/**
 * Checks a conversation: an array of `{ role, content }` with string fields. Lone surrogates
 * become U+FFFD; NUL characters cannot reach llama.cpp's C strings and are a RangeError.
 * @internal
 */
export function chatMessages(name: string, value: unknown): ChatMessage[] {
  if (!Array.isArray(value)) throw typeError(name, 'an array of { role, content } messages', value, 'argument');
  return value.map((message: unknown, i) => {
    const item = `${name}[${i}]`;
    if (message === null || typeof message !== 'object') throw typeError(item, 'a { role, content } object', message, 'argument');
    const { role, content } = message as Record<string, unknown>;
    if (typeof role !== 'string' || role.length === 0) throw typeError(`${item}.role`, 'a non-empty string', role, 'argument');
    if (typeof content !== 'string') throw typeError(`${item}.content`, 'a string', content, 'argument');
    for (const [field, text] of [['role', role], ['content', content]] as const) {
      if (text.includes('\0') || text.includes(OPEN) || text.includes(CLOSE)) {
        throw rangeError(`${item}.${field}`, 'text without NUL or U+F8F0/U+F8F1 characters', text, 'argument');
      }
    }
    return { role: toWellFormed(role), content: toWellFormed(content) };
  });
}
