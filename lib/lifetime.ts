/**
 * Small lifetime helpers shared by Model and Context: the "internal constructor" token and a
 * no-op used to mark promises as handled.
 * @internal
 */
import { argTypeError } from './validate.js';

/** Does nothing; attached as a rejection handler so an unobserved promise is not "unhandled". */
export function noop(): void {}

/**
 * Passed to constructors that users must not call (`new Model()` without a native model would
 * be a broken object). Not exported from the package.
 */
export const INTERNAL: unique symbol = Symbol('llama-napi.internal');

/** Throws if a public class's constructor is called from outside the library. */
export function assertInternal(token: unknown, className: string): void {
  if (token !== INTERNAL) {
    throw argTypeError(`${className} cannot be constructed directly; use loadModel() / model.createContext()`);
  }
}
