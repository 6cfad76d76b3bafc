/*
 * The messages a tunnel socket sends right behind its hello while this node claims the hello's
 * identity from the cluster (server.ts, `placed`). A client need not wait for its welcome: on a
 * node alone, what it sends after the hello reaches its session, so here it is held until the
 * claim is answered, then goes where the hello went (this node's session, or the owner's relay).
 * Copied, since uWS reuses a message's memory, and bounded, since nothing has been proved yet.
 */

/** Bytes one socket may send before its welcome while its identity is claimed; past it, the socket goes. */
export const HELD_BEFORE_WELCOME_BYTES = 1024 * 1024;

/** What an empty message costs to hold all the same (the copy and its place in the list). */
const PER_MESSAGE_BYTES = 64;

export class HeldMessages {
  private readonly messages: ArrayBuffer[] = [];
  private bytes = 0;

  /** False, holding nothing, when `message` would take the socket past HELD_BEFORE_WELCOME_BYTES. */
  hold(message: ArrayBuffer): boolean {
    this.bytes += message.byteLength + PER_MESSAGE_BYTES;
    if (this.bytes > HELD_BEFORE_WELCOME_BYTES) return false;
    this.messages.push(message.slice(0));
    return true;
  }

  /** The held messages in the order they came; the hold is empty after. */
  take(): ArrayBuffer[] {
    const messages = this.messages.splice(0);
    this.bytes = 0;
    return messages;
  }
}
