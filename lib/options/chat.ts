/**
 * Options of chat calls ({@link Context.chat}, {@link ChatSession.send}): generation options plus
 * how the conversation is formatted; their validation.
 */
import { GENERATE_KEYS, resolveGenerateOptions, type GenerateOptions, type ResolvedGenerateOptions } from './generate.js';
import { booleanOption, optionsObject, rangeError, typeError } from '../validate.js';

/** How a conversation is formatted. */
export interface ChatTemplateOptions {
  /**
   * A built-in template name (see {@link chatTemplateNames}, e.g. `'mistral-v1'`, `'llama2'`,
   * `'chatml'`) or a template text that llama.cpp recognises (such as the model card's Jinja
   * string). Default: the model's own `tokenizer.chat_template`.
   */
  template?: string;
  /** Let special-token text inside message contents become special tokens. Default `false`. */
  specialTokensInContent?: boolean;
}

/** Keys of {@link ChatTemplateOptions}, for options objects that include them. @internal */
export const CHAT_TEMPLATE_KEYS = ['template', 'specialTokensInContent'] as const;

/** Validated {@link ChatTemplateOptions}. @internal */
export interface ResolvedChatTemplateOptions {
  template: string | null;
  specialTokensInContent: boolean;
}

/** Validates the chat-template fields of an options object (already checked for unknown keys). @internal */
export function resolveChatTemplateOptions(o: Record<string, unknown>): ResolvedChatTemplateOptions {
  const template = o['template'];
  if (template !== undefined && (typeof template !== 'string' || template.length === 0 || template.includes('\0'))) {
    throw (typeof template === 'string' ? rangeError : typeError)(
      'template',
      'a non-empty string without NUL characters (a built-in template name or a template text)',
      template,
    );
  }
  const special = o['specialTokensInContent'];
  return {
    template: template === undefined ? null : template,
    specialTokensInContent: special === undefined ? false : booleanOption('specialTokensInContent', special),
  };
}

/** Options of {@link Context.chat} and {@link ChatSession.send}: generation options plus template options. */
export interface ChatOptions extends GenerateOptions, ChatTemplateOptions {}

const CHAT_KEYS = [...GENERATE_KEYS, ...CHAT_TEMPLATE_KEYS] as const;

/**
 * Validates chat options and splits them into generation and template options.
 * @internal
 */
export function splitChatOptions(
  options: unknown,
  what: string,
): { generate: ResolvedGenerateOptions; template: ResolvedChatTemplateOptions } {
  const o = optionsObject(options, what, CHAT_KEYS);
  const generate: Record<string, unknown> = { ...o };
  for (const key of CHAT_TEMPLATE_KEYS) delete generate[key];
  return { generate: resolveGenerateOptions(generate), template: resolveChatTemplateOptions(o) };
}
