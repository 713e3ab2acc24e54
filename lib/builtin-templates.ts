/**
 * The names of llama.cpp's built-in chat templates: asked of the addon, so kept apart from the
 * pure formatting code (lib/chat-template.ts) and the option checks (lib/options/chat.ts).
 */
import { loadAddon } from './addon.js';

/** The names of llama.cpp's built-in chat templates, usable as {@link ChatTemplateOptions.template}. */
export function chatTemplateNames(): string[] {
  return loadAddon().chatTemplateNames();
}
