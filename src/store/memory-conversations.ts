/** The in-memory ConversationStore: tests and the reference the other adapters are checked against. */
import {
  agentMismatch,
  applyTurn,
  DEFAULT_DELIVERY_LIMIT,
  DEFAULT_IDLE_LIMIT,
  newConversation,
  type ConversationMessage,
  type ConversationRecord,
  type ConversationStore,
  type Delivery,
  type NewTurn,
  type TurnRecord,
} from './conversations';

interface Entry {
  conversation: ConversationRecord;
  messages: ConversationMessage[];
  turns: Map<string, TurnRecord>;
}

const copy = <T>(value: T): T => structuredClone(value);

export class MemoryConversationStore implements ConversationStore {
  private readonly entries = new Map<string, Entry>();
  private readonly deliveries = new Map<string, Delivery>();

  open(id: string, agentId: string): Promise<{ conversation: ConversationRecord; created: boolean }> {
    const existing = this.entries.get(id);
    if (existing) {
      if (existing.conversation.agentId !== agentId) {
        return Promise.reject(agentMismatch(id, existing.conversation.agentId, agentId));
      }
      return Promise.resolve({ conversation: copy(existing.conversation), created: false });
    }
    const conversation = newConversation(id, agentId);
    this.entries.set(id, { conversation, messages: [], turns: new Map() });
    return Promise.resolve({ conversation: copy(conversation), created: true });
  }

  get(id: string): Promise<ConversationRecord | undefined> {
    const entry = this.entries.get(id);
    return Promise.resolve(entry && copy(entry.conversation));
  }

  recordTurn(id: string, epoch: string, turn: NewTurn): Promise<TurnRecord | undefined> {
    const entry = this.entries.get(id);
    if (!entry || entry.conversation.epoch !== epoch) return Promise.resolve(undefined);
    const known = entry.turns.get(turn.turnId);
    if (known) return Promise.resolve(copy(known));
    const applied = applyTurn(entry.conversation, turn);
    entry.conversation = applied.conversation;
    entry.messages.push(...applied.messages);
    entry.turns.set(turn.turnId, applied.record);
    return Promise.resolve(copy(applied.record));
  }

  getTurn(id: string, turnId: string): Promise<TurnRecord | undefined> {
    const turn = this.entries.get(id)?.turns.get(turnId);
    return Promise.resolve(turn && copy(turn));
  }

  listMessages(
    id: string,
    options: { afterSeq?: number; limit?: number } = {},
  ): Promise<ConversationMessage[]> {
    const after = options.afterSeq ?? 0;
    const all = (this.entries.get(id)?.messages ?? []).filter((m) => m.seq > after);
    return Promise.resolve(copy(options.limit === undefined ? all : all.slice(0, options.limit)));
  }

  delete(id: string, options: { idleBefore?: string } = {}): Promise<ConversationRecord | undefined> {
    const entry = this.entries.get(id);
    if (!entry) return Promise.resolve(undefined);
    if (options.idleBefore !== undefined && !(entry.conversation.lastActiveAt < options.idleBefore)) {
      return Promise.resolve(undefined);
    }
    this.entries.delete(id);
    for (const [key, d] of this.deliveries) if (d.conversationId === id) this.deliveries.delete(key);
    return Promise.resolve(copy(entry.conversation));
  }

  listIdle(before: string, limit = DEFAULT_IDLE_LIMIT): Promise<ConversationRecord[]> {
    const idle = [...this.entries.values()]
      .map((e) => e.conversation)
      .filter((c) => c.lastActiveAt < before)
      .sort((a, b) => (a.lastActiveAt < b.lastActiveAt ? -1 : a.lastActiveAt > b.lastActiveAt ? 1 : 0));
    return Promise.resolve(copy(idle.slice(0, limit)));
  }

  recordDelivery(delivery: Delivery): Promise<Delivery> {
    const known = this.deliveries.get(delivery.id);
    if (known) return Promise.resolve(copy(known));
    this.deliveries.set(delivery.id, copy(delivery));
    return Promise.resolve(copy(delivery));
  }

  listDeliveries(agentId: string, limit = DEFAULT_DELIVERY_LIMIT): Promise<Delivery[]> {
    const list = [...this.deliveries.values()]
      .filter((d) => d.agentId === agentId)
      .reverse()
      .sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    return Promise.resolve(copy(list.slice(0, limit)));
  }
}
