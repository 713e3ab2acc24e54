/**
 * The order of one benchmark round: the native tool first in even rounds, the binding first in
 * odd ones, so that drift on a shared machine (a background job, thermal state) falls on both
 * sides alike over the rounds.
 */
export async function inAlternatingOrder(round: number, runNative: () => Promise<void>, runBinding: () => Promise<void>): Promise<void> {
  if (round % 2 === 0) {
    await runNative();
    await runBinding();
  } else {
    await runBinding();
    await runNative();
  }
}
