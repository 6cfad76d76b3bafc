/*
 * A plugin that cannot be used: it does not load, lacks a required symbol or export, or speaks
 * another API version. Always a start-up error; the message names the file and what is wrong.
 */
export class PluginError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`plugin ${file}: ${problem}`);
    this.name = 'PluginError';
  }
}
