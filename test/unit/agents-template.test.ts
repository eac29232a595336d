/** The Jinja-like prompt templates: output, paths, filters, control flow, strict variables, errors. */
import { AgentError } from '../../src/agents/errors';
import {
  compileTemplate,
  referencedVariables,
  renderTemplate as render,
  templateReferences,
} from '../../src/agents/template';

function errorOf(fn: () => unknown): AgentError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw err;
  }
  throw new Error('expected an AgentError');
}

describe('variables and paths', () => {
  test('renders variables, dotted paths and indexes', () => {
    const vars = {
      name: 'Ada',
      input: { topic: 'queues' },
      steps: { design: { output: 'D1' }, 'code-review': { output: 'R1' } },
      items: ['a', 'b'],
    };
    expect(render('Hi {{ name }}: {{input.topic}}', vars)).toBe('Hi Ada: queues');
    expect(render("{{ steps.design.output }} {{ steps['code-review'].output }}", vars)).toBe('D1 R1');
    expect(render('{{ items.1 }}{{ items[0] }}', vars)).toBe('ba');
  });

  test('values print as prompts need them: objects and lists as compact JSON, null as nothing', () => {
    expect(
      render('{{ o }}|{{ l }}|{{ n }}|{{ b }}|{{ z }}|{{ x }}', {
        o: { a: 1 },
        l: [1, 'x'],
        n: 2.5,
        b: true,
        z: null,
        x: '',
      }),
    ).toBe('{"a":1}|[1,"x"]|2.5|true||');
  });

  test('literals', () => {
    expect(render(`{{ 'it\\'s' }} {{ "q" }} {{ 42 }} {{ true }} {{ none | default('-') }}`, {})).toBe(
      "it's q 42 true -",
    );
  });

  test('does not reach into prototypes', () => {
    const err = errorOf(() => render('{{ o.constructor }}', { o: {} }));
    expect(err.code).toBe('AGENT.TEMPLATE_VARIABLE_MISSING');
  });
});

describe('filters', () => {
  const vars = { s: '  Mixed Case  ', list: ['x', 'y', 3], obj: { k: [1, 2] }, empty: '' };

  test('upper, lower, trim, join, json, length, chained', () => {
    expect(render('{{ s | trim | upper }}|{{ s | lower | trim }}', vars)).toBe('MIXED CASE|mixed case');
    expect(render("{{ list | join(', ') }}|{{ list | join }}", vars)).toBe('x, y, 3|xy3');
    expect(render('{{ obj | json }}|{{ s | trim | json }}|{{ obj | tojson(2) }}', vars)).toBe(
      '{"k":[1,2]}|"Mixed Case"|{\n  "k": [\n    1,\n    2\n  ]\n}',
    );
    expect(render('{{ list | length }} {{ s | length }} {{ obj | length }}', vars)).toBe('3 14 1');
  });

  test('default covers missing (and null) values; with true also empty ones', () => {
    expect(
      render("{{ missing | default('x') }}|{{ input.a.b | default('y') }}|{{ nul | d('z') }}", {
        input: {},
        nul: null,
      }),
    ).toBe('x|y|z');
    expect(
      render("{{ empty | default('e') }}|{{ empty | default('e', true) }}|{{ missing | default }}", vars),
    ).toBe('|e|');
    expect(render('{{ missing | default(fallback) | upper }}', { fallback: 'fb' })).toBe('FB');
  });

  test('a filter on the wrong type is a clear error', () => {
    expect(errorOf(() => render('{{ s | join }}', vars)).message).toMatch(/'join' needs a list, got string/);
  });
});

describe('control flow', () => {
  test('if / elif / else with truthiness', () => {
    const t = '{% if a %}A{% elif b %}B{% else %}C{% endif %}';
    expect(render(t, { a: 1, b: 1 })).toBe('A');
    expect(render(t, { a: 0, b: 'x' })).toBe('B');
    expect(render(t, { a: [], b: {} })).toBe('C');
    expect(render(t, { a: '', b: null })).toBe('C');
  });

  test('not, and, or, ==, !=, comparisons and parentheses', () => {
    const vars = { env: 'prod', n: 3, flags: { beta: false }, tags: ['a'] };
    expect(render("{% if env == 'prod' and not flags.beta %}yes{% endif %}", vars)).toBe('yes');
    expect(render("{% if env != 'prod' or n > 2 %}yes{% endif %}", vars)).toBe('yes');
    expect(render('{% if not (n >= 3 and n <= 3) %}no{% else %}eq{% endif %}', vars)).toBe('eq');
    expect(render("{{ n == 3 }} {{ env == 'dev' }} {{ tags == other }}", { ...vars, other: ['a'] })).toBe(
      'true false true',
    );
    expect(errorOf(() => render('{{ env < 3 }}', vars)).message).toMatch(/cannot compare string with number/);
    expect(render('{{ missing or n }}', { missing: '', n: 7 })).toBe('7');
  });

  test('is defined / is not defined look at missing variables without failing', () => {
    const t =
      '{% if input.extra is defined %}[{{ input.extra }}]{% endif %}{% if x is not defined %}none{% endif %}';
    expect(render(t, { input: { extra: 'e' } })).toBe('[e]none');
    expect(render(t, { input: {} })).toBe('none');
  });

  test('for loops with loop.index, loop.first/last, nesting and else', () => {
    const t =
      '{% for s in steps %}{{ loop.index }}. {{ s.name }}{% if not loop.last %}, {% endif %}{% endfor %}';
    expect(render(t, { steps: [{ name: 'design' }, { name: 'build' }, { name: 'test' }] })).toBe(
      '1. design, 2. build, 3. test',
    );
    const nested = '{% for r in rows %}{% for c in r %}{{ loop.index0 }}{{ c }}{% endfor %};{% endfor %}';
    expect(render(nested, { rows: [['a', 'b'], ['c']] })).toBe('0a1b;0c;');
    expect(render('{% for x in xs %}{{ x }}{% else %}empty{% endfor %}', { xs: [] })).toBe('empty');
    expect(errorOf(() => render('{% for x in xs %}{% endfor %}', { xs: 'abc' })).message).toMatch(
      /'for' needs a list/,
    );
  });

  test('the loop variable does not leak out of the loop', () => {
    expect(errorOf(() => render('{% for x in xs %}{% endfor %}{{ x }}', { xs: [1] })).code).toBe(
      'AGENT.TEMPLATE_VARIABLE_MISSING',
    );
  });
});

describe('comments and whitespace', () => {
  test('comments render nothing; text and newlines around tags are kept as Jinja keeps them', () => {
    expect(render('a{# note {{ x }} #}b', {})).toBe('ab');
    expect(render('Items:\n{% for i in xs %}\n- {{ i }}\n{% endfor %}\nEnd', { xs: [1, 2] })).toBe(
      'Items:\n\n- 1\n\n- 2\n\nEnd',
    );
  });

  test('- markers trim the whitespace beside a tag', () => {
    expect(render('Items:\n{%- for i in xs %}\n- {{ i }}\n{%- endfor %}\nEnd', { xs: [1, 2] })).toBe(
      'Items:\n- 1\n- 2\nEnd',
    );
    expect(render('a   {{- x -}}   b {#- c -#} d', { x: 'X' })).toBe('aXbd');
  });
});

describe('errors', () => {
  test('a missing variable is an error naming it and its line, never an empty string', () => {
    const err = errorOf(() =>
      render('line one\n  Topic: {{ input.topic }}', { input: {} }, { name: 'System prompt' }),
    );
    expect(err.code).toBe('AGENT.TEMPLATE_VARIABLE_MISSING');
    expect(err.status).toBe(400);
    expect(err.message).toContain(
      "System prompt: variable 'input.topic' is not defined ('input' has no 'topic') at line 2",
    );
    expect(err.details).toEqual({ variable: 'input.topic', line: 2, column: 13 });
  });

  test('missing variables in conditions and loops are errors too', () => {
    expect(errorOf(() => render('{% if flag %}x{% endif %}', {})).details.variable).toBe('flag');
    expect(errorOf(() => render('{% for x in xs %}{% endfor %}', {})).details.variable).toBe('xs');
  });

  test.each([
    ['{{ x ', "line 1, column 1: '{{' is never closed"],
    ['ok\n{% if x %}', "line 2, column 4: '{% if %}' is never closed with '{% endif %}'"],
    ['{% endif %}', "'{% endif %}' without a matching opening tag"],
    ['{% if a %}{% else %}{% elif b %}{% endif %}', "'{% elif %}' without a matching opening tag"],
    ['{% for x in xs %}{% endif %}', "'{% endif %}' without a matching opening tag"],
    ['{{ x | nope }}', "unknown filter 'nope'"],
    ['{{ x | upper(1) }}', "filter 'upper' takes 0..0 arguments, not 1"],
    ['{% for x %}', "expected 'in', found end of tag"],
    ['{{ a b }}', "expected the end of the tag, found 'b'"],
    ['{% set x = 1 %}', "line 1, column 4: unknown tag 'set'"],
    ['{{ }}', 'expected a variable, a string or a number, found end of tag'],
    ['{{ a = 1 }}', "unexpected character '='"],
    ['{{ (a }}', "expected ')'"],
    ['{{ 1 is defined }}', "only a variable can be tested with 'is defined'"],
  ])('syntax error in %j', (template, message) => {
    const err = errorOf(() => compileTemplate(template));
    expect(err.code).toBe('AGENT.TEMPLATE_INVALID');
    expect(err.message).toContain(message);
    expect(err.details).toEqual({ line: expect.any(Number), column: expect.any(Number) });
  });
});

describe('compilation and references', () => {
  test('compiles once and renders many times', () => {
    const t = 'Hello {{ who }}';
    expect(compileTemplate(t)).toBe(compileTemplate(t));
    const compiled = compileTemplate(t);
    expect(['a', 'b'].map((who) => compiled.render({ who }))).toEqual(['Hello a', 'Hello b']);
  });

  test('referencedVariables lists the paths used from outside, loop variables excluded', () => {
    const t = [
      '{{ input.topic | upper }} {{ steps.design.output }}',
      '{% if context.scale and input.topic %}{% endif %}',
      '{% for s in steps.list %}{{ s.name }} {{ loop.index }} {{ prefix }}{% endfor %}',
      "{{ extra | default('x') }}{% if opt is defined %}{% endif %}",
    ].join('\n');
    expect(referencedVariables(t)).toEqual([
      'input.topic',
      'steps.design.output',
      'context.scale',
      'steps.list',
      'prefix',
      'extra',
      'opt',
    ]);
    expect(
      templateReferences(t)
        .filter((r) => r.optional)
        .map((r) => r.path),
    ).toEqual(['extra', 'opt']);
    expect(templateReferences(t).find((r) => r.path === 'prefix')?.line).toBe(3);
  });
});
