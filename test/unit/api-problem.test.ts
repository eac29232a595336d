/** Errors → RFC 9457 problem+json: status and code kept, internals never leaked, Retry-After. */
import { AgentError } from '../../src/agents/errors';
import { errorResponse, etagHeader, parseIfMatch } from '../../src/api/http';
import { problemType, toProblem } from '../../src/api/problem';
import { ConfigError, ConflictError, NotFoundError, ValidationError } from '../../src/errors';
import { LlmError } from '../../src/llm/errors';

it('maps a ValidationError to 400 with every violation', () => {
  const violations = [
    { path: 'prompt', message: 'too short' },
    { path: 'max_tokens', message: 'too small' },
  ];
  const p = toProblem(new ValidationError(violations));
  expect(p.status).toBe(400);
  expect(p.headers['content-type']).toBe('application/problem+json');
  expect(p.body).toEqual({
    type: problemType('REQUEST.INVALID'),
    title: 'Bad Request',
    status: 400,
    detail: 'The request is not valid: prompt: too short; max_tokens: too small',
    code: 'REQUEST.INVALID',
    violations,
  });
});

it('keeps the status and code of app errors', () => {
  expect(toProblem(new NotFoundError('CATALOG.AGENT_NOT_FOUND', 'No agent')).body).toMatchObject({
    status: 404,
    title: 'Not Found',
    code: 'CATALOG.AGENT_NOT_FOUND',
    detail: 'No agent',
  });
  expect(toProblem(new AgentError('AGENT.BUILTIN', 'built-in')).status).toBe(409);
  expect(toProblem(new ConflictError('CATALOG.AGENT_EXISTS', 'taken')).status).toBe(409);
  expect(toProblem(new ConfigError('bad setting')).body).toMatchObject({
    status: 500,
    code: 'CONFIG.INVALID',
  });
});

it('maps a stale etag to 412 Precondition Failed', () => {
  const p = toProblem(new ConflictError('CATALOG.ETAG_MISMATCH', 'stale'));
  expect(p.status).toBe(412);
  expect(p.body).toMatchObject({ status: 412, title: 'Precondition Failed', code: 'CATALOG.ETAG_MISMATCH' });
});

it('keeps LLM codes, with Retry-After when the wait is known', () => {
  const limited = toProblem(new LlmError('LLM.RATE_LIMITED', 'slow down', { retryAfterMs: 1500 }));
  expect(limited.status).toBe(429);
  expect(limited.headers['retry-after']).toBe('2');
  expect(limited.body.code).toBe('LLM.RATE_LIMITED');

  const open = toProblem(new LlmError('LLM.CIRCUIT_OPEN', 'open', { retryAfterMs: 10 }));
  expect(open).toMatchObject({
    status: 503,
    headers: { 'retry-after': '1' },
    body: { code: 'LLM.CIRCUIT_OPEN' },
  });

  const unknownWait = toProblem(new LlmError('LLM.RATE_LIMITED', 'slow down'));
  expect(unknownWait.headers['retry-after']).toBeUndefined();
  expect(
    toProblem(new LlmError('LLM.TIMEOUT', 't', { retryAfterMs: 5000 })).headers['retry-after'],
  ).toBeUndefined();
});

it('finds the model error behind an agent error for Retry-After', () => {
  const cause = new LlmError('LLM.RATE_LIMITED', 'slow down', { retryAfterMs: 3000 });
  const wrapped = new LlmError('LLM.RATE_LIMITED', 'after retries', { cause });
  expect(toProblem(wrapped).headers['retry-after']).toBe('3');
});

it('answers 500 with a generic detail for unknown errors and logs the real one', () => {
  const logged: string[] = [];
  const p = toProblem(new TypeError('secret internals at db.ts:42'), (m) => logged.push(m));
  expect(p.status).toBe(500);
  expect(p.body.code).toBe('INTERNAL');
  expect(JSON.stringify(p.body)).not.toContain('secret');
  expect(logged.join('\n')).toContain('secret internals');
  expect(toProblem('a string').status).toBe(500);
});

it('logs server-side app errors, not client errors', () => {
  const logged: string[] = [];
  toProblem(new ValidationError([]), (m) => logged.push(m));
  expect(logged).toEqual([]);
  toProblem(new LlmError('LLM.SERVER_ERROR', 'upstream 500'), (m) => logged.push(m));
  expect(logged.join()).toContain('LLM.SERVER_ERROR');
});

it('builds problem responses and handles entity tags', () => {
  expect(errorResponse(new NotFoundError('X.Y', 'nope'))).toMatchObject({
    status: 404,
    headers: { 'content-type': 'application/problem+json' },
    json: { code: 'X.Y' },
  });
  expect(etagHeader('abc')).toEqual({ etag: '"abc"' });
  expect(etagHeader(undefined)).toEqual({});
  expect(parseIfMatch('"abc"')).toBe('abc');
  expect(parseIfMatch('W/"abc"')).toBe('abc');
  expect(parseIfMatch('abc')).toBe('abc');
  expect(parseIfMatch('*')).toBeUndefined();
  expect(parseIfMatch(null)).toBeUndefined();
  expect(parseIfMatch('  ')).toBeUndefined();
});
