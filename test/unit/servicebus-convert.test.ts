/** Service Bus conversions: trigger data and metadata as the host sends them, output values, admin JSON. */
import {
  isTextBody,
  messageToJson,
  outputToMessages,
  toTriggerInput,
  valuesToMessages,
} from '../../src/local-host/servicebus/convert';
import type { BrokerMessage } from '../../src/local-host/servicebus/types';

const msg = (body: string | Buffer, extra: Partial<BrokerMessage> = {}): BrokerMessage => ({
  entity: 'q',
  messageId: 'm1',
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
  applicationProperties: {},
  sequenceNumber: 7,
  enqueuedTime: new Date('2024-01-01T00:00:00Z'),
  deliveryCount: 2,
  state: 'active',
  lockToken: 'lock-1',
  ...extra,
});

describe('toTriggerInput', () => {
  it('sends text as a string and binary as bytes, unless the binding sets dataType', () => {
    expect(toTriggerInput([msg('{"a":1}', { contentType: 'application/json' })], false).trigger).toEqual({
      string: '{"a":1}',
    });
    const png = msg(Buffer.from([137, 80]), { contentType: 'image/png' });
    expect(toTriggerInput([png], false).trigger).toEqual({ bytes: png.body });
    expect(toTriggerInput([png], false, 'string').trigger).toEqual({ string: png.body.toString('utf8') });
    expect(toTriggerInput([msg('text')], false, 'binary').trigger).toEqual({ bytes: Buffer.from('text') });
  });

  it('builds single-message metadata with the extension keys', () => {
    const { triggerMetadata } = toTriggerInput(
      [
        msg('x', {
          correlationId: 'c',
          subject: 's',
          applicationProperties: { k: 1 },
          expiresAt: new Date(0),
        }),
      ],
      false,
    );
    expect(triggerMetadata).toEqual({
      DeliveryCount: { json: '2' },
      SequenceNumber: { json: '7' },
      MessageId: { string: 'm1' },
      LockToken: { string: 'lock-1' },
      CorrelationId: { string: 'c' },
      Subject: { string: 's' },
      Label: { string: 's' },
      EnqueuedTimeUtc: { string: '2024-01-01T00:00:00.000Z' },
      EnqueuedTime: { string: '2024-01-01T00:00:00.000Z' },
      ExpiresAtUtc: { string: '1970-01-01T00:00:00.000Z' },
      ExpiresAt: { string: '1970-01-01T00:00:00.000Z' },
      ApplicationProperties: { json: '{"k":1}' },
      UserProperties: { json: '{"k":1}' },
    });
  });

  it('sends batches as collections, as bytes when any body is binary', () => {
    const a = msg('a');
    const b = msg(Buffer.from([255]), { messageId: 'm2', sequenceNumber: 8 });
    expect(toTriggerInput([a, msg('b')], true).trigger).toEqual({ collectionString: { string: ['a', 'b'] } });
    const { trigger, triggerMetadata } = toTriggerInput([a, b], true);
    expect(trigger).toEqual({ collectionBytes: { bytes: [a.body, b.body] } });
    expect(triggerMetadata.MessageIdArray).toEqual({ collectionString: { string: ['m1', 'm2'] } });
    expect(triggerMetadata.SequenceNumberArray).toEqual({ collectionSint64: { sint64: [7, 8] } });
    expect(triggerMetadata.DeliveryCountArray).toEqual({ json: '[2,2]' });
    expect(triggerMetadata.CorrelationIdArray).toEqual({ collectionString: { string: ['', ''] } });
  });
});

describe('output values', () => {
  it('turns typed data into messages', () => {
    expect(outputToMessages({ string: 'hi' })).toEqual([{ body: 'hi', contentType: 'text/plain' }]);
    expect(outputToMessages({ json: '{"a":1}' })).toEqual([
      { body: '{"a":1}', contentType: 'application/json' },
    ]);
    expect(outputToMessages({ int: 5 })).toEqual([{ body: '5', contentType: 'application/json' }]);
    expect(outputToMessages({ bytes: new Uint8Array([1]) })).toEqual([
      { body: Buffer.from([1]), contentType: 'application/octet-stream' },
    ]);
    expect(outputToMessages({ json: JSON.stringify([{ a: 1 }, 'b', null, Buffer.from([2])]) })).toEqual([
      { body: '{"a":1}', contentType: 'application/json' },
      { body: 'b', contentType: 'text/plain' },
      { body: Buffer.from([2]), contentType: 'application/octet-stream' },
    ]);
    expect(outputToMessages({})).toEqual([]);
    expect(valuesToMessages([true])).toEqual([{ body: 'true', contentType: 'application/json' }]);
  });
});

describe('messageToJson', () => {
  it('shows JSON, text or base64 bodies', () => {
    expect(messageToJson(msg('{"a":1}'))).toMatchObject({
      body: { a: 1 },
      bodyEncoding: 'json',
      messageId: 'm1',
    });
    expect(messageToJson(msg('42', { contentType: 'text/plain' }))).toMatchObject({
      body: '42',
      bodyEncoding: 'text',
    });
    expect(messageToJson(msg(Buffer.from([255, 0])))).toMatchObject({ body: '/wA=', bodyEncoding: 'base64' });
    expect(isTextBody(msg('<a/>', { contentType: 'application/xml' }))).toBe(true);
  });
});
