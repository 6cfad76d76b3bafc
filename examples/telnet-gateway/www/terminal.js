// The page's only logic: a terminal on a ResumableSocket. Keystrokes go to the line service as
// they are typed; its output is written to the terminal. When the network drops, the socket
// resumes by itself and nothing typed or printed meanwhile is lost or repeated.
import { ResumableSocket } from './client/websocksy-client.js';

const state = document.getElementById('state');
const detail = document.getElementById('detail');
const show = (text, kind, more = '') => {
  state.textContent = text;
  state.className = kind;
  detail.textContent = more;
};

const terminal = new window.Terminal({ convertEol: false, cursorBlink: true });
terminal.open(document.getElementById('terminal'));
terminal.focus();

const url = new URL('../telnet', location.href);
url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
const socket = new ResumableSocket(url.href);
socket.binaryType = 'arraybuffer';
const decoder = new TextDecoder();

socket.addEventListener('open', () => show('connected', 'open'));
socket.addEventListener('message', (event) => terminal.write(typeof event.data === 'string' ? event.data : decoder.decode(event.data, { stream: true })));
socket.addEventListener('detach', () => show('reconnecting…', 'away', 'what you type is kept and sent when the network is back'));
socket.addEventListener('resume', (event) => show('connected', 'open', `resumed over ${event.detail?.transport ?? 'the network'}`));
socket.addEventListener('close', (event) => show('closed', 'closed', `${event.code} ${event.reason}`));
terminal.onData((data) => socket.send(data));

// For tests and curious people: the socket and the terminal's text.
window.gateway = {
  socket,
  text: () => {
    const buffer = terminal.buffer.active;
    const lines = [];
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n');
  },
};
