/*
 * What the client has received, by data offset, and when to say so. The server keeps what the
 * client has not acknowledged (up to session-buffer, then it pauses the peer), so the client
 * acknowledges every `ackBytes` and, for a trickle, within ACK_DELAY_MS.
 */

/** The longest a received byte waits for its acknowledgement (docs/sessions.md). */
export const ACK_DELAY_MS = 250;

export class Inbox {
  /** Data bytes received from the server. */
  private count = 0;
  /** The count the server was last told (an ACK, a HELLO or a poll). */
  private told = 0;

  get received(): number {
    return this.count;
  }

  /** Counts `length` data bytes; true when `ackBytes` have come since the server was last told. */
  add(length: number, ackBytes: number): boolean {
    this.count += length;
    return this.count - this.told >= ackBytes;
  }

  /** True when there is something the server has not been told. */
  get owed(): boolean {
    return this.count > this.told;
  }

  /** The server has been told the current count; returns it. */
  tell(): number {
    this.told = this.count;
    return this.count;
  }
}
