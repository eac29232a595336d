/**
 * Typed views of the few rhea internals the AMQP endpoint relies on and rhea's typings leave out:
 * the attach frames of a link, a sender's credit and drain state, and the deliveries a session has
 * queued but not yet written to the socket.
 */
import { message } from 'rhea';
import type { AmqpError, Sender, link } from 'rhea';

/** A delivery outcome (disposition state) as rhea builds it; `.described()` makes it sendable. */
export interface Outcome {
  described(): unknown;
}

interface OutcomeFactories {
  accepted(): Outcome;
  released(): Outcome;
  rejected(fields: { error?: AmqpError }): Outcome;
  modified(fields: { delivery_failed?: boolean; undeliverable_here?: boolean }): Outcome;
}

/** rhea's outcome constructors (`message.accepted()` ...), which its typings do not declare. */
export const outcomes = message as unknown as OutcomeFactories;

export interface Terminus {
  address?: string;
  filter?: Record<string, unknown> | null;
}

export interface AttachFrame {
  source?: Terminus | null;
  target?: Terminus | null;
  snd_settle_mode?: number;
  rcv_settle_mode?: number;
  max_message_size?: number;
}

interface LinkInternals {
  local: { attach: AttachFrame };
  remote: { attach?: AttachFrame };
}

interface SenderInternals {
  credit: number;
  _draining: boolean;
}

interface QueuedDelivery {
  link: unknown;
  tag: Buffer | string;
}

interface OutgoingInternals {
  next_pending_delivery: number;
  next_delivery_id: number;
  deliveries: { by_id(id: number): QueuedDelivery | undefined };
}

export function remoteAttach(l: link): AttachFrame {
  return (l as unknown as LinkInternals).remote.attach ?? {};
}

export function localAttach(l: link): AttachFrame {
  return (l as unknown as LinkInternals).local.attach;
}

/** Link credit the peer granted that rhea has not yet used up by writing transfers. */
export function creditOf(sender: Sender): number {
  return (sender as unknown as SenderInternals).credit;
}

/**
 * Answers a drain request: the rest of the credit is used up and a flow says so. rhea only marks the
 * link, so the connection is asked to write (it does when an event handler returns, not from a timer).
 */
export function answerDrain(sender: Sender): void {
  sender.set_drained(true);
  (sender.connection as unknown as { _register(): void })._register();
}

/** Whether the peer's last flow asked to drain the link credit. */
export function isDraining(sender: Sender): boolean {
  return (sender as unknown as SenderInternals)._draining === true;
}

/**
 * The tags of deliveries sent on `sender` that its session has not written yet. rhea takes link
 * credit only when it writes a transfer, so these must be counted against the credit.
 */
export function unsentTags(sender: Sender): (Buffer | string)[] {
  const out = (sender.session as unknown as { outgoing: OutgoingInternals }).outgoing;
  const tags: (Buffer | string)[] = [];
  for (let id = out.next_pending_delivery; id < out.next_delivery_id; id++) {
    const d = out.deliveries.by_id(id);
    if (d?.link === sender) tags.push(d.tag);
  }
  return tags;
}
