/*
 * The two charts of the last minutes, drawn by uPlot (its classic script defines the global
 * `uPlot`): what is open (WebSocket connections, tunnel sessions and streams, resumable sessions)
 * and their throughput each way. Made once, then fed each new history.
 */
import type { HistoryJson } from './history-json.js';

/** The series' colours; the test looks for the connections' on the canvas. */
export const COLOURS = { connections: '#2a7ae2', tunnelSessions: '#e2872a', tunnelStreams: '#8a4fd1', sessions: '#1f9e6d', toClient: '#2a7ae2', toPeer: '#d1434f' } as const;

const HEIGHT = 220;

function line(label: string, stroke: string): uPlot.Series {
  return { label, stroke, width: 2, points: { show: false } };
}

function chart(target: HTMLElement, series: uPlot.Series[]): uPlot {
  const options: uPlot.Options = {
    width: Math.max(target.clientWidth, 300),
    height: HEIGHT,
    series: [{}, ...series],
    axes: [{}, { size: 70 }],
    scales: { y: { range: (_self, _min, max) => [0, Math.max(1, max * 1.1)] } },
    legend: { show: true },
  };
  return new uPlot(options, [[], ...series.map(() => [])], target);
}

export class Charts {
  private readonly counts: uPlot;
  private readonly throughput: uPlot;

  constructor(countsTarget: HTMLElement, throughputTarget: HTMLElement) {
    this.counts = chart(countsTarget, [
      line('connections', COLOURS.connections),
      line('tunnel sessions', COLOURS.tunnelSessions),
      line('tunnel streams', COLOURS.tunnelStreams),
      line('resumable sessions', COLOURS.sessions),
    ]);
    this.throughput = chart(throughputTarget, [line('to clients', COLOURS.toClient), line('to peers', COLOURS.toPeer)]);
    window.addEventListener('resize', () => {
      for (const [plot, target] of [[this.counts, countsTarget], [this.throughput, throughputTarget]] as const) plot.setSize({ width: Math.max(target.clientWidth, 300), height: HEIGHT });
    });
  }

  update(history: HistoryJson): void {
    this.counts.setData([history.time, history.connections, history.tunnelSessions, history.tunnelStreams, history.sessions]);
    this.throughput.setData([history.time, history.bytesToClientPerSecond, history.bytesToPeerPerSecond]);
  }
}
