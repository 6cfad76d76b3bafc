/*
 * The `websocksy` command: the server (server/command.ts), `websocksy forward ...` (the
 * port-forwarding client) or `websocksy status` (cli/status.ts). Each loads only its own modules:
 * the server's are most of websocksy, and a client that forwards a port or asks a status should
 * not wait for them to load (start-up time).
 */
import { parseStatusCommand, runStatus, STATUS_USAGE } from './cli/status.js';
import { parseForwardCommand, FORWARD_USAGE } from './config/forward-command.js';
import { errorMessage } from './lib/errors.js';
import { ExitError } from './lib/exit-error.js';
import { flushLog, log, setLogFormat, setVerbose } from './lib/log.js';

async function runForward(argv: readonly string[]): Promise<void> {
  let command;
  try {
    command = parseForwardCommand(argv);
  } catch (error) {
    throw new ExitError(errorMessage(error), 2);
  }
  if (command.help) {
    process.stdout.write(FORWARD_USAGE + '\n');
    return;
  }
  setVerbose(command.verbose);
  setLogFormat(command.logFormat);
  const { upstream } = command;
  const { TunnelClient } = await import('./tunnel/client.js');
  const client = new TunnelClient(upstream, { stopOnRefusal: true, onRefused: () => process.exit(1) });
  try {
    await client.start();
  } catch (error) {
    throw new ExitError(errorMessage(error), 1);
  }
  log.info('forwarding', { url: upstream.url, identity: upstream.name, ports: client.localPorts.join(',') });
  const stop = (signal: string): void => {
    log.info('shutting down', { signal });
    client.close();
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function runStatusCommand(argv: readonly string[]): Promise<void> {
  let command;
  try {
    command = parseStatusCommand(argv);
  } catch (error) {
    throw new ExitError(errorMessage(error), 2);
  }
  if (command.help) {
    process.stdout.write(STATUS_USAGE + '\n');
    return;
  }
  try {
    await runStatus(command);
  } catch (error) {
    throw new ExitError(errorMessage(error), 1);
  }
}

/** The `websocksy` command: errors go to stderr with the exit code they call for. */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    if (argv[0] === 'forward') {
      await runForward(argv.slice(1));
      return;
    }
    if (argv[0] === 'status') {
      await runStatusCommand(argv.slice(1));
      return;
    }
    await (await import('./server/command.js')).runServerCommand(argv);
  } catch (error) {
    const code = error instanceof ExitError ? error.exitCode : 70;
    flushLog();
    const message = error instanceof ExitError ? error.message : `unexpected failure: ${errorMessage(error)}`;
    // Several errors (a config's ConfigErrors) are one line each, each with the prefix.
    process.stderr.write(`${message.split('\n').map((line) => `websocksy: ${line}`).join('\n')}\n`);
    process.exit(code);
  }
}
