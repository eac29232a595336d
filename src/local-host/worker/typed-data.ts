/** Conversions between RPC typed data and plain values, as the Functions host does them. */
import type { RpcTypedData } from './core';

/** The value a typed-data payload carries (strings that are JSON are parsed, like the library does). */
export function fromTypedData(data: RpcTypedData | null | undefined): unknown {
  if (data === null || data === undefined) return undefined;
  if (typeof data.string === 'string') {
    try {
      return JSON.parse(data.string) as unknown;
    } catch {
      return data.string;
    }
  }
  if (typeof data.json === 'string') return JSON.parse(data.json) as unknown;
  if (data.bytes) return Buffer.from(data.bytes);
  if (typeof data.int === 'number') return data.int;
  if (typeof data.double === 'number') return data.double;
  return undefined;
}

/**
 * The JSON text the Durable extension records for a function's return value: strings are kept as
 * strings (so `"abc"` becomes `"\"abc\""`), JSON payloads as they are, bytes as base64.
 */
export function typedDataToJson(data: RpcTypedData | null | undefined): string {
  if (data === null || data === undefined) return 'null';
  if (typeof data.string === 'string') return JSON.stringify(data.string);
  if (typeof data.json === 'string') return data.json;
  if (data.bytes) return JSON.stringify(Buffer.from(data.bytes).toString('base64'));
  if (typeof data.int === 'number') return String(data.int);
  if (typeof data.double === 'number') return String(data.double);
  return 'null';
}

export function typedDataToBuffer(data: RpcTypedData | null | undefined): Buffer {
  if (data === null || data === undefined) return Buffer.alloc(0);
  if (typeof data.string === 'string') return Buffer.from(data.string, 'utf8');
  if (typeof data.json === 'string') return Buffer.from(data.json, 'utf8');
  if (data.bytes) return Buffer.from(data.bytes);
  if (typeof data.int === 'number' || typeof data.double === 'number')
    return Buffer.from(String(data.int ?? data.double));
  return Buffer.alloc(0);
}
