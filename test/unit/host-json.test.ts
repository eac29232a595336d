/** host.json reading: comments, TimeSpan values and %SETTING% references. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  parseTimeSpan,
  readHostJson,
  resolveSettingRefs,
  stripJsonComments,
} from '../../src/local-host/host-json';

describe('stripJsonComments', () => {
  test('removes line and block comments', () => {
    const text = `{
      // a line comment
      "a": 1, /* a block
      comment */ "b": 2 // trailing
    }`;
    expect(JSON.parse(stripJsonComments(text))).toEqual({ a: 1, b: 2 });
  });

  test('keeps comment markers that are inside strings', () => {
    const text = '{"url": "http://example.com/*x*/", "glob": "dist/**/*.js" /* real */}';
    expect(JSON.parse(stripJsonComments(text))).toEqual({
      url: 'http://example.com/*x*/',
      glob: 'dist/**/*.js',
    });
  });

  test('escaped quotes and backslashes do not end a string early', () => {
    const text = String.raw`{"q": "say \"//hi\"", "path": "C:\\dir\\", "n": 1 // c
    }`;
    expect(JSON.parse(stripJsonComments(text))).toEqual({ q: 'say "//hi"', path: 'C:\\dir\\', n: 1 });
  });

  test('keeps line breaks after line comments, so line numbers stay right', () => {
    expect(stripJsonComments('1 // x\n2')).toBe('1 \n2');
  });

  test('an unterminated block comment swallows the rest', () => {
    expect(stripJsonComments('{"a":1} /* never closed')).toBe('{"a":1} ');
  });

  test('text without comments is unchanged', () => {
    const text = '{"a": [1, 2, {"b": "c/d"}]}';
    expect(stripJsonComments(text)).toBe(text);
  });
});

describe('readHostJson', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lh-host-json-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a missing host.json is an empty object', () => {
    expect(readHostJson(dir)).toEqual({});
  });

  test('reads host.json with comments', () => {
    fs.writeFileSync(
      path.join(dir, 'host.json'),
      '{ "version": "2.0", // v2\n "extensions": { "http": { "routePrefix": "api/v1" } } }',
    );
    expect(readHostJson(dir)).toEqual({ version: '2.0', extensions: { http: { routePrefix: 'api/v1' } } });
  });

  test('invalid JSON is a clear error naming the file', () => {
    fs.writeFileSync(path.join(dir, 'host.json'), '{ "version": }');
    expect(() => readHostJson(dir)).toThrow(/host\.json is not valid JSON \(.*host\.json\)/);
  });
});

describe('parseTimeSpan', () => {
  test.each<[string, number]>([
    ['00:00:02', 2000],
    ['00:05:00', 300_000],
    ['01:00:00', 3_600_000],
    ['1:30:00', 5_400_000],
    ['1.02:03:04', ((24 + 2) * 3600 + 3 * 60 + 4) * 1000],
    ['6.00:00:00', 6 * 86_400_000],
    ['00:00:00.250', 250],
    ['00:00:01.5', 1500],
    ['00:00:00.0005', 1],
    ['2.00:00:01.125', 2 * 86_400_000 + 1125],
    ['  00:00:10  ', 10_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseTimeSpan(text, -1)).toBe(ms);
  });

  test.each([undefined, '', '5 minutes', '10', '00:00', '-00:00:01', '00:0:01', 'PT5M', '1.2.03:00:00'])(
    '%p falls back',
    (text) => {
      expect(parseTimeSpan(text, 1234)).toBe(1234);
    },
  );
});

describe('resolveSettingRefs', () => {
  const env = { QUEUE: 'orders', NS: 'prod', EMPTY: '' };

  test('replaces %NAME% with the app setting', () => {
    expect(resolveSettingRefs('%QUEUE%', env)).toBe('orders');
    expect(resolveSettingRefs('%NS%-%QUEUE%-dlq', env)).toBe('prod-orders-dlq');
    expect(resolveSettingRefs('x%EMPTY%y', env)).toBe('xy');
  });

  test('a value without references is unchanged', () => {
    expect(resolveSettingRefs('plain', env)).toBe('plain');
    expect(resolveSettingRefs('100%', env)).toBe('100%');
  });

  test('a missing setting is an error naming it', () => {
    expect(() => resolveSettingRefs('%NOPE%', env)).toThrow(
      "The app setting 'NOPE' referenced as '%NOPE%' is not set.",
    );
  });

  test('reads process.env by default', () => {
    process.env.LH_HOST_JSON_TEST_SETTING = 'from-env';
    try {
      expect(resolveSettingRefs('%LH_HOST_JSON_TEST_SETTING%')).toBe('from-env');
    } finally {
      delete process.env.LH_HOST_JSON_TEST_SETTING;
    }
  });
});
