/**
 * The CLI's exit codes and the one error class for a command line that cannot be run as
 * written. Scripts branch on these codes, so they are public API (docs/cli.md lists them).
 */

/** Exit codes of `llama-napi`. */
export const EXIT = Object.freeze({
  /** Done. */
  ok: 0,
  /** The command ran and failed: a missing model, a load error, not enough memory, a download error. */
  failure: 1,
  /** The command line is wrong: unknown flag, missing or invalid value. Nothing was loaded. */
  usage: 2,
  /** Stopped by Ctrl-C (SIGINT), 128 + 2 as shells report it. */
  interrupted: 130,
});

/**
 * A command line the CLI refuses before doing anything. `main` prints the message with a
 * pointer to `--help` and exits with {@link EXIT.usage}.
 */
export class UsageError extends Error {
  /** The command whose `--help` the message points to (`undefined`: the top-level help). */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/**
 * A failure already explained to the user (the message is the whole story, no stack or code
 * to add), ending the command with `exitCode`.
 */
export class CliFailure extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number = EXIT.failure) {
    super(message);
    this.name = 'CliFailure';
    this.exitCode = exitCode;
  }
}
