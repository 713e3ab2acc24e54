/**
 * Options of chat calls: generation options plus how the conversation is formatted.
 */
import { CHAT_TEMPLATE_KEYS, resolveChatTemplateOptions, type ChatTemplateOptions, type ResolvedChatTemplateOptions } from './chat-template.js';
import { GENERATE_KEYS, resolveGenerateOptions, type GenerateOptions, type ResolvedGenerateOptions } from './options.js';
import { optionsObject } from './validate.js';

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
