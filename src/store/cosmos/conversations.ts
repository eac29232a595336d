/**
 * The Cosmos DB ConversationStore (docs/storage.md, docs/conversations.md). Container `conversations`,
 * partitioned by the conversation id (`/pk`), so a conversation is one partition:
 * - `head`: the ConversationRecord (`record`), with `lastActiveAt` and `agentId` on top for queries;
 * - `msg:<epoch tag>:<seq>`: one message; `turn:<epoch tag>:<turn id>`: one turn record. The epoch tag
 *   keeps documents of a deleted conversation apart from a new one under the same id;
 * - `delivery:<id>`: a message delivered to the conversation (listed by agent across partitions).
 * Recording a turn is one transactional batch: replace the head if its etag still matches, then create
 * the turn and its messages. On Azure that is all or nothing, so seqs are gapless and a turn is there
 * exactly when the head counts it; a 412 means another writer won: read again (the turn may be there
 * now: first write wins) and retry. Creating a conversation is a create of its head (409: it exists).
 */
import { createHash } from 'node:crypto';
import type { Container, CosmosClient, OperationInput } from '@azure/cosmos';
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
} from '../conversations';
import { CONVERSATIONS_CONTAINER, lazy, openContainers } from './setup';
import {
  asJson,
  backoff,
  committed,
  createItem,
  deleteItem,
  itemId,
  mapLimit,
  queryAll,
  readItem,
  transact,
  withoutSystem,
  type Stored,
} from './shared';

export interface CosmosConversationStoreOptions {
  /** The store owns the client: close() disposes it. */
  client: CosmosClient;
  database: string;
}

interface Head {
  id: 'head';
  pk: string;
  kind: 'head';
  agentId: string;
  lastActiveAt: string;
  record: ConversationRecord;
}

interface MessageDoc {
  id: string;
  pk: string;
  kind: 'msg';
  epoch: string;
  seq: number;
  message: ConversationMessage;
}

interface TurnDoc {
  id: string;
  pk: string;
  kind: 'turn';
  epoch: string;
  turn: TurnRecord;
}

interface DeliveryDoc {
  id: string;
  pk: string;
  kind: 'delivery';
  agentId: string;
  at: string;
  delivery: Delivery;
}

const RETRIES = 10;

/** A short stable tag of an epoch (epochs hold characters item ids may not). */
const tagOf = (epoch: string): string => createHash('sha256').update(epoch).digest('hex').slice(0, 16);
const messageId = (epoch: string, seq: number): string =>
  `msg:${tagOf(epoch)}:${String(seq).padStart(10, '0')}`;
const turnId = (epoch: string, id: string): string => itemId(`turn:${tagOf(epoch)}:${id}`);

export class CosmosConversationStore implements ConversationStore {
  private readonly client: CosmosClient;
  private readonly ready: () => Promise<Container>;

  constructor(options: CosmosConversationStoreOptions) {
    this.client = options.client;
    this.ready = lazy(
      async () =>
        (await openContainers(options.client, options.database, { conversations: CONVERSATIONS_CONTAINER }))
          .conversations,
    );
  }

  private async head(id: string): Promise<Stored<Head> | undefined> {
    return readItem<Head>(await this.ready(), 'head', id);
  }

  async open(id: string, agentId: string): Promise<{ conversation: ConversationRecord; created: boolean }> {
    const container = await this.ready();
    for (let attempt = 0; ; attempt++) {
      const existing = await this.head(id);
      if (existing) {
        if (existing.agentId !== agentId) throw agentMismatch(id, existing.agentId, agentId);
        return { conversation: existing.record, created: false };
      }
      const record = newConversation(id, agentId);
      const head: Head = {
        id: 'head',
        pk: id,
        kind: 'head',
        agentId,
        lastActiveAt: record.lastActiveAt,
        record,
      };
      if (await createItem(container, head)) return { conversation: record, created: true };
      // 409: another opener made it first; read theirs (it may have been deleted again meanwhile).
      if (attempt >= RETRIES) throw new Error(`Opening conversation '${id}' kept racing a delete.`);
    }
  }

  async get(id: string): Promise<ConversationRecord | undefined> {
    return (await this.head(id))?.record;
  }

  async recordTurn(id: string, epoch: string, turn: NewTurn): Promise<TurnRecord | undefined> {
    const container = await this.ready();
    for (let attempt = 0; attempt <= RETRIES; attempt++) {
      const head = await this.head(id);
      if (!head || head.record.epoch !== epoch) return undefined;
      const known = await readItem<TurnDoc>(container, turnId(epoch, turn.turnId), id);
      if (known) return known.turn;
      const applied = applyTurn(head.record, turn);
      const next: Head = {
        ...withoutSystem(head),
        lastActiveAt: applied.conversation.lastActiveAt,
        record: applied.conversation,
      };
      const operations: OperationInput[] = [
        { operationType: 'Replace', id: 'head', resourceBody: asJson(next), ifMatch: head._etag },
        {
          operationType: 'Create',
          resourceBody: asJson({
            id: turnId(epoch, turn.turnId),
            pk: id,
            kind: 'turn',
            epoch,
            turn: applied.record,
          } satisfies TurnDoc),
        },
        ...applied.messages.map((message): OperationInput => ({
          operationType: 'Create',
          resourceBody: asJson({
            id: messageId(epoch, message.seq),
            pk: id,
            kind: 'msg',
            epoch,
            seq: message.seq,
            message,
          } satisfies MessageDoc),
        })),
      ];
      const results = await transact(container, id, operations);
      if (committed(results, operations.length)) return applied.record;
      const status = results[0]?.statusCode;
      // 412: the head changed (another writer); 404: deleted meanwhile; 429: throttled inside the batch.
      if (status === undefined || ![404, 409, 412, 429].includes(status)) {
        throw new Error(
          `Recording turn '${turn.turnId}' of conversation '${id}' failed: batch statuses ` +
            `${results.map((r) => r.statusCode).join(', ')}.`,
        );
      }
      await backoff(attempt);
    }
    throw new Error(`Recording turn '${turn.turnId}' of conversation '${id}' kept conflicting; try again.`);
  }

  async getTurn(id: string, turn: string): Promise<TurnRecord | undefined> {
    const head = await this.head(id);
    if (!head) return undefined;
    return (await readItem<TurnDoc>(await this.ready(), turnId(head.record.epoch, turn), id))?.turn;
  }

  async listMessages(
    id: string,
    options: { afterSeq?: number; limit?: number } = {},
  ): Promise<ConversationMessage[]> {
    const head = await this.head(id);
    if (!head) return [];
    const top = options.limit === undefined ? '' : `TOP ${Math.max(0, Math.floor(options.limit))} `;
    const docs = await queryAll<MessageDoc>(
      await this.ready(),
      `SELECT ${top}* FROM c WHERE c.pk = @pk AND c.kind = 'msg' AND c.epoch = @epoch AND c.seq > @after ` +
        'ORDER BY c.seq',
      { '@pk': id, '@epoch': head.record.epoch, '@after': options.afterSeq ?? 0 },
    );
    return docs.map((d) => d.message);
  }

  async delete(id: string, options: { idleBefore?: string } = {}): Promise<ConversationRecord | undefined> {
    const container = await this.ready();
    const head = await this.head(id);
    if (!head) return undefined;
    if (options.idleBefore !== undefined && !(head.lastActiveAt < options.idleBefore)) return undefined;
    // The head first, conditionally: a turn recorded meanwhile keeps the conversation (and recordTurn
    // finds no head from now on, so nothing lands in what is being deleted).
    if (!(await deleteItem(container, 'head', id, head._etag))) return undefined;
    const rest = await queryAll<{ id: string }>(container, 'SELECT c.id FROM c WHERE c.pk = @pk', {
      '@pk': id,
    });
    await mapLimit(rest, 8, (doc) => deleteItem(container, doc.id, id));
    return head.record;
  }

  async listIdle(before: string, limit = DEFAULT_IDLE_LIMIT): Promise<ConversationRecord[]> {
    const docs = await queryAll<Head>(
      await this.ready(),
      `SELECT TOP ${Math.max(0, Math.floor(limit))} * FROM c WHERE c.kind = 'head' AND c.lastActiveAt < @before ` +
        'ORDER BY c.lastActiveAt',
      { '@before': before },
    );
    return docs.map((d) => d.record);
  }

  async recordDelivery(delivery: Delivery): Promise<Delivery> {
    const container = await this.ready();
    const doc: DeliveryDoc = {
      id: itemId(`delivery:${delivery.id}`),
      pk: delivery.conversationId,
      kind: 'delivery',
      agentId: delivery.agentId,
      at: delivery.at,
      delivery,
    };
    if (await createItem(container, doc)) return delivery;
    return (await readItem<DeliveryDoc>(container, doc.id, doc.pk))?.delivery ?? delivery;
  }

  async listDeliveries(agentId: string, limit = DEFAULT_DELIVERY_LIMIT): Promise<Delivery[]> {
    const docs = await queryAll<DeliveryDoc>(
      await this.ready(),
      `SELECT TOP ${Math.max(0, Math.floor(limit))} * FROM c WHERE c.kind = 'delivery' AND c.agentId = @agent ` +
        'ORDER BY c.at DESC',
      { '@agent': agentId },
    );
    return docs.map((d) => d.delivery);
  }

  /** Disposes the client. */
  close(): void {
    this.client.dispose();
  }
}
