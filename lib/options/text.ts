/**
 * Options of the model's text methods ({@link Model.tokenize}, {@link Model.detokenize},
 * {@link Model.applyChatTemplate} and their async twins) and their validation.
 */
import { CHAT_TEMPLATE_KEYS, resolveChatTemplateOptions, type ChatTemplateOptions, type ResolvedChatTemplateOptions } from './chat.js';
import { booleanOption, optionsObject } from '../validate.js';

/** Options of {@link Model.tokenize} and {@link Model.tokenizeAsync}. */
export interface TokenizeOptions {
  /** Add the model's special tokens (BOS/EOS) as the model asks for. Default `true`. */
  addSpecial?: boolean;
  /**
   * Turn special-token text (e.g. `"</s>"`, `"[INST]"`) into special tokens. Default `false`,
   * so text typed by a user can never inject control tokens.
   */
  parseSpecial?: boolean;
}

/** Options of {@link Model.detokenize}. */
export interface DetokenizeOptions {
  /** Drop a leading BOS / trailing EOS that the model adds itself. Default `false`. */
  removeSpecial?: boolean;
  /** Render special tokens as their text (e.g. `"</s>"`) instead of nothing. Default `false`. */
  unparseSpecial?: boolean;
}

/** Options of {@link Model.applyChatTemplate} and {@link Model.applyChatTemplateAsync}. */
export interface ApplyChatTemplateOptions extends ChatTemplateOptions {
  /** End with the template's opening of an assistant reply (what a model continues). Default `true`. */
  addAssistant?: boolean;
  /** Return token ids (the exact prompt `Context.chat` evaluates) instead of the text. Default `false`. */
  tokenize?: boolean;
}

const TOKENIZE_KEYS = ['addSpecial', 'parseSpecial'] as const;
const DETOKENIZE_KEYS = ['removeSpecial', 'unparseSpecial'] as const;
const APPLY_CHAT_TEMPLATE_KEYS = [...CHAT_TEMPLATE_KEYS, 'addAssistant', 'tokenize'] as const;

/** Validated {@link TokenizeOptions}. @internal */
export function resolveTokenizeOptions(options: unknown, what: string): Required<TokenizeOptions> {
  const o = optionsObject(options, what, TOKENIZE_KEYS);
  return {
    addSpecial: o.addSpecial === undefined ? true : booleanOption('addSpecial', o.addSpecial),
    parseSpecial: o.parseSpecial === undefined ? false : booleanOption('parseSpecial', o.parseSpecial),
  };
}

/** Validated {@link DetokenizeOptions}. @internal */
export function resolveDetokenizeOptions(options: unknown): Required<DetokenizeOptions> {
  const o = optionsObject(options, 'detokenize options', DETOKENIZE_KEYS);
  return {
    removeSpecial: o.removeSpecial === undefined ? false : booleanOption('removeSpecial', o.removeSpecial),
    unparseSpecial: o.unparseSpecial === undefined ? false : booleanOption('unparseSpecial', o.unparseSpecial),
  };
}

/** Validated {@link ApplyChatTemplateOptions}. @internal */
export function resolveApplyChatTemplateOptions(
  options: unknown,
  what: string,
): { addAssistant: boolean; tokenize: boolean; format: ResolvedChatTemplateOptions } {
  const o = optionsObject(options, what, APPLY_CHAT_TEMPLATE_KEYS);
  return {
    addAssistant: o['addAssistant'] === undefined ? true : booleanOption('addAssistant', o['addAssistant']),
    tokenize: o['tokenize'] === undefined ? false : booleanOption('tokenize', o['tokenize']),
    format: resolveChatTemplateOptions(o),
  };
}
