/* What the cluster tests ask of a cluster: a request on a connection of its own, a TCP echo through a port, a retry until it works. */
import { connect as tcpConnect } from 'node:net';

/** GET on a connection of its own (a load balancer, or the kernel, picks the node per connection): the status, and the body as text. */
export async function freshGet(port: number, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, text: await response.text() };
}

/** Sends `text` through 127.0.0.1:port and resolves with what comes back once it is as long (5 s at most). */
export function echoThrough(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let heard = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no echo through port ${port} in 5 s (heard ${JSON.stringify(heard)})`)), 5000);
    socket.on('connect', () => socket.write(text));
    socket.on('data', (chunk: Buffer) => {
      heard += chunk.toString();
      if (heard.length < text.length) return;
      clearTimeout(timer);
      socket.end();
      resolve(heard);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Retries `attempt` every 50 ms for up to `ms`; resolves with its first success, or rejects with its last failure. */
export async function eventually<T>(ms: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
