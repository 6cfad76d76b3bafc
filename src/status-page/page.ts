/*
 * The status page: asks for the token when the server wants one, then every two seconds reads
 * the status JSON and the history and shows them (counts, charts, the connections, tunnel
 * sessions and resumable sessions), with the actions when the server offers them (a configured
 * token): close a connection, a tunnel session or a resumable session; drain and exit.
 * Everything shown is set as text, never as HTML: what a client sent (an endpoint path) cannot
 * become markup, and the Content-Security-Policy refuses inline script besides.
 */
import { RequestFailed, StatusApi, Unauthorized, type Closable, type ConnectionJson, type SessionJson, type StatusJson, type TunnelSessionJson } from './api.js';
import { Charts } from './charts.js';
import type { HistoryJson } from './history-json.js';

const POLL_MS = 2000;

const CLOSABLE_NAMES: Readonly<Record<Closable, string>> = { connections: 'Connection', tunnels: 'Tunnel session', sessions: 'Session' };

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

function bytes(count: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** A client's address, and the proxy it came through when one named it. */
function clientText(shown: { readonly client: string; readonly via?: string }): string {
  return shown.via === undefined ? shown.client : `${shown.client} via ${shown.via}`;
}

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className !== undefined) td.className = className;
  return td;
}

class StatusPage {
  private readonly api: StatusApi;
  private readonly actions: boolean;
  private charts: Charts | null = null;
  private draining = false;

  constructor() {
    const { base = '', actions } = document.body.dataset;
    this.api = new StatusApi(base);
    this.actions = actions === 'true';
    element<HTMLFormElement>('login').addEventListener('submit', (event) => {
      event.preventDefault();
      this.api.token = element<HTMLInputElement>('token').value;
      element<HTMLInputElement>('token').value = '';
      void this.refresh();
    });
    element('logout').addEventListener('click', () => {
      this.api.token = null;
      this.showLogin(null);
    });
    element('drain').addEventListener('click', () => void this.drain());
    element('dashboard').addEventListener('click', (event) => {
      const target = event.target;
      if (!(target instanceof HTMLButtonElement)) return;
      const { closeKind, closeId } = target.dataset;
      if (closeKind !== undefined && closeKind in CLOSABLE_NAMES && closeId !== undefined) void this.close(closeKind as Closable, closeId, target);
    });
  }

  start(): void {
    void this.refresh();
    window.setInterval(() => void this.refresh(), POLL_MS);
  }

  private setState(text: string, kind: 'live' | 'down' | 'draining' | 'login'): void {
    const state = element('state');
    state.textContent = text;
    state.className = `state ${kind}`;
  }

  private showLogin(error: string | null): void {
    element('dashboard').hidden = true;
    element('login').hidden = false;
    element('logout').hidden = true;
    element('drain').hidden = true;
    const shown = element('login-error');
    shown.hidden = error === null;
    shown.textContent = error ?? '';
    this.setState('token needed', 'login');
    element('token').focus();
  }

  private async refresh(): Promise<void> {
    if (!element('login').hidden && this.api.token === null) return;
    try {
      const [status, history] = await Promise.all([this.api.status(), this.api.history()]);
      this.show(status, history);
    } catch (error) {
      if (error instanceof Unauthorized) this.showLogin(this.api.token === null ? null : 'That token was refused.');
      else if (error instanceof RequestFailed) this.setState(this.draining ? 'draining: server gone' : `unreachable: ${error.message}`, this.draining ? 'draining' : 'down');
      else throw error;
      if (error instanceof Unauthorized) this.api.token = null;
    }
  }

  private show(status: StatusJson, history: HistoryJson): void {
    element('login').hidden = true;
    element('dashboard').hidden = false;
    element('logout').hidden = this.api.token === null;
    element('drain').hidden = !this.actions || this.draining;
    if (!this.draining) this.setState(`live · ${new Date().toLocaleTimeString()}`, 'live');
    const last = history.time.length - 1;
    const latest = (series: number[]): number => series[last] ?? 0;
    element('count-connections').textContent = String(status.connectionsTotal);
    element('count-tunnel-sessions').textContent = String(latest(history.tunnelSessions));
    element('count-tunnel-streams').textContent = String(latest(history.tunnelStreams));
    element('count-sessions').textContent = String(latest(history.sessions));
    element('rate-to-client').textContent = `${bytes(latest(history.bytesToClientPerSecond))}/s`;
    element('rate-to-peer').textContent = `${bytes(latest(history.bytesToPeerPerSecond))}/s`;
    this.charts ??= new Charts(element('chart-counts'), element('chart-throughput'));
    this.charts.update(history);
    this.showConnections(status);
    this.showTable('tunnels', status.server?.sessions ?? [], (tunnel) => this.tunnelRow(tunnel));
    this.showTable('sessions', status.sessions, (session) => this.sessionRow(session));
  }

  /** Fills table `id`, and shows its section only when it has rows. */
  private showTable<T>(id: 'tunnels' | 'sessions', items: readonly T[], row: (item: T) => HTMLTableRowElement): void {
    element(`${id}-section`).hidden = items.length === 0;
    element(id).querySelector('tbody')?.replaceChildren(...items.map(row));
  }

  private tunnelRow(tunnel: TunnelSessionJson): HTMLTableRowElement {
    const tr = document.createElement('tr');
    tr.append(
      cell(tunnel.session),
      cell(tunnel.identity),
      cell(tunnel.client),
      cell(tunnel.state),
      cell(new Date(tunnel.since).toLocaleTimeString()),
      cell(String(tunnel.streams.length), 'number'),
      cell(bytes(tunnel.bytesIn), 'number'),
      cell(bytes(tunnel.bytesOut), 'number'),
      this.actionsCell('tunnels', tunnel.session),
    );
    return tr;
  }

  private sessionRow(session: SessionJson): HTMLTableRowElement {
    const tr = document.createElement('tr');
    const shown = cell(session.session.slice(0, 8));
    shown.title = session.session;
    tr.append(
      shown,
      cell(clientText(session)),
      cell(session.endpoint),
      cell(session.peer),
      cell(session.state),
      cell(new Date(session.since).toLocaleTimeString()),
      cell(bytes(session.bytesToClient), 'number'),
      cell(bytes(session.bytesToPeer), 'number'),
      this.actionsCell('sessions', session.session),
    );
    return tr;
  }

  /** The row's Close button, where the server offers actions. */
  private actionsCell(kind: Closable, id: string): HTMLTableCellElement {
    const actions = document.createElement('td');
    if (this.actions) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Close';
      button.dataset['closeKind'] = kind;
      button.dataset['closeId'] = id;
      actions.append(button);
    }
    return actions;
  }

  private showConnections(status: StatusJson): void {
    const rows = status.connections.map((connection) => this.row(connection));
    element('connections').querySelector('tbody')?.replaceChildren(...rows);
    const shown = status.connections.length < status.connectionsTotal ? `(the first ${status.connections.length} of ${status.connectionsTotal})` : '';
    element('connections-shown').textContent = shown;
  }

  private row(connection: ConnectionJson): HTMLTableRowElement {
    const tr = document.createElement('tr');
    tr.dataset['id'] = String(connection.id);
    tr.append(
      cell(String(connection.id)),
      cell(clientText(connection)),
      cell(connection.endpoint),
      cell(connection.peer),
      cell(new Date(connection.since).toLocaleTimeString()),
      cell(bytes(connection.bytesToClient), 'number'),
      cell(bytes(connection.bytesToPeer), 'number'),
    );
    tr.append(this.actionsCell('connections', String(connection.id)));
    return tr;
  }

  private async close(kind: Closable, id: string, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      await this.api.close(kind, id);
    } catch (error) {
      button.disabled = false;
      window.alert(`${CLOSABLE_NAMES[kind]} ${id} was not closed: ${error instanceof Error ? error.message : String(error)}`);
    }
    await this.refresh();
  }

  private async drain(): Promise<void> {
    const sure = window.confirm('Drain this websocksy and exit? It stops accepting at once, lets open connections finish up to its drain-timeout, then closes the rest and exits.');
    if (!sure) return;
    try {
      await this.api.drain();
      this.draining = true;
      element('drain').hidden = true;
      this.setState('draining', 'draining');
    } catch (error) {
      window.alert(`The drain did not start: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

new StatusPage().start();
