/**
 * GET /api/docs: a self-contained documentation page. No CDN and no external assets (the app must
 * work with no internet): a small inline script fetches openapi.json next to it and renders the
 * operations, parameters, bodies, responses, schemas and examples.
 */
import { API_TITLE } from './routes';

const STYLE = `
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
main{max-width:980px;margin:0 auto;padding:24px}
h1{margin:0 0 4px}h2{margin-top:32px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.op{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:12px 0}
.op summary{cursor:pointer;padding:10px 12px;font-family:ui-monospace,monospace}
.op .body{padding:0 12px 12px}
.m{display:inline-block;min-width:64px;text-align:center;border-radius:4px;color:#fff;font-weight:600;margin-right:8px}
.GET{background:#1f6feb}.POST{background:#1a7f37}.PUT{background:#9a6700}.DELETE{background:#cf222e}
table{border-collapse:collapse;width:100%;margin:6px 0}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f6f8fa;padding:8px;overflow:auto;border-radius:4px}
.muted{color:#57606a}a{color:#0969da}
`;

/* The renderer, kept to plain ES2017 so any current browser runs it as is. */
const SCRIPT = String.raw`
(function () {
  var root = document.getElementById('root');
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); }
  function refName(ref) { return ref.split('/').pop(); }
  function typeOf(s) {
    if (!s) return 'any';
    if (s.$ref) return '<a href="#schema-' + esc(refName(s.$ref)) + '">' + esc(refName(s.$ref)) + '</a>';
    if (s.enum) return s.enum.map(function (v) { return '<code>' + esc(JSON.stringify(v)) + '</code>'; }).join(' | ');
    if (s.const !== undefined) return '<code>' + esc(JSON.stringify(s.const)) + '</code>';
    if (s.type === 'array') return typeOf(s.items) + '[]';
    if (s.anyOf || s.oneOf) return (s.anyOf || s.oneOf).map(typeOf).join(' | ');
    return esc(s.type || 'any') + (s.format ? ' <span class="muted">(' + esc(s.format) + ')</span>' : '');
  }
  function limits(s) {
    var out = [];
    [['minLength', 'min length'], ['maxLength', 'max length'], ['minimum', 'min'], ['maximum', 'max'],
     ['pattern', 'pattern'], ['default', 'default']].forEach(function (p) {
      if (s[p[0]] !== undefined && Math.abs(s[p[0]]) !== 9007199254740991)
        out.push(p[1] + ' <code>' + esc(JSON.stringify(s[p[0]])) + '</code>');
    });
    return out.join(', ');
  }
  function props(s) {
    if (!s || !s.properties) return '';
    var req = s.required || [];
    return '<table><tr><th>field</th><th>type</th><th>description</th></tr>' +
      Object.keys(s.properties).map(function (k) {
        var p = s.properties[k];
        return '<tr><td><code>' + esc(k) + '</code>' + (req.indexOf(k) >= 0 ? ' *' : '') + '</td><td>' + typeOf(p) +
          '</td><td>' + esc(p.description || '') + (limits(p) ? '<div class="muted">' + limits(p) + '</div>' : '') +
          (p.example !== undefined ? '<div class="muted">e.g. <code>' + esc(JSON.stringify(p.example)) + '</code></div>' : '') +
          '</td></tr>';
      }).join('') + '</table>';
  }
  function example(s, schemas) {
    if (!s) return undefined;
    if (s.$ref) return example(schemas[refName(s.$ref)], schemas);
    if (s.example !== undefined) return s.example;
    if (s.properties) {
      var o = {};
      Object.keys(s.properties).forEach(function (k) { var v = example(s.properties[k], schemas); if (v !== undefined) o[k] = v; });
      return o;
    }
    if (s.type === 'array') { var item = example(s.items, schemas); return item === undefined ? [] : [item]; }
    return s.default;
  }
  function content(c, schemas) {
    return Object.keys(c || {}).map(function (type) {
      var s = c[type].schema, ex = example(s, schemas);
      return '<div><code>' + esc(type) + '</code> ' + typeOf(s) + '</div>' +
        (ex !== undefined && type.indexOf('json') >= 0 ? '<pre>' + esc(JSON.stringify(ex, null, 2)) + '</pre>' : '');
    }).join('');
  }
  function render(doc) {
    var schemas = (doc.components && doc.components.schemas) || {};
    var html = '<h1>' + esc(doc.info.title) + ' <span class="muted">' + esc(doc.info.version) + '</span></h1>' +
      '<p>' + esc(doc.info.description || '') + '</p><p><a href="openapi.json">openapi.json</a> (OpenAPI ' + esc(doc.openapi) + ')</p>';
    (doc.tags || []).forEach(function (tag) {
      html += '<h2>' + esc(tag.name) + '</h2><p class="muted">' + esc(tag.description || '') + '</p>';
      Object.keys(doc.paths).forEach(function (path) {
        Object.keys(doc.paths[path]).forEach(function (method) {
          var op = doc.paths[path][method];
          if ((op.tags || []).indexOf(tag.name) < 0) return;
          var M = method.toUpperCase();
          html += '<details class="op" id="op-' + esc(op.operationId) + '"><summary><span class="m ' + M + '">' + M + '</span>' +
            esc(path) + ' <span class="muted">' + esc(op.summary || '') + '</span></summary><div class="body">' +
            (op.description ? '<p>' + esc(op.description) + '</p>' : '');
          if (op.parameters) html += '<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>description</th></tr>' +
            op.parameters.map(function (p) { return '<tr><td><code>' + esc(p.name) + '</code></td><td>' + esc(p.in) + '</td><td>' + esc(p.description || '') + '</td></tr>'; }).join('') + '</table>';
          if (op.requestBody) html += '<h4>Request body' + (op.requestBody.required ? ' (required)' : '') + '</h4>' + content(op.requestBody.content, schemas);
          html += '<h4>Responses</h4>' + Object.keys(op.responses).map(function (status) {
            var r = op.responses[status];
            return '<div><b>' + esc(status) + '</b> ' + esc(r.description) +
              (r.headers ? ' <span class="muted">headers: ' + esc(Object.keys(r.headers).join(', ')) + '</span>' : '') +
              (status < 400 ? content(r.content, schemas) : ' ' + typeOf((r.content[Object.keys(r.content)[0]] || {}).schema)) + '</div>';
          }).join('') + '</div></details>';
        });
      });
    });
    html += '<h2>Schemas</h2>' + Object.keys(schemas).map(function (name) {
      var s = schemas[name];
      return '<h3 id="schema-' + esc(name) + '">' + esc(name) + '</h3><p>' + esc(s.description || '') + '</p>' +
        (s.properties ? props(s) : '<div>' + typeOf(s) + '</div>');
    }).join('');
    root.innerHTML = html;
  }
  var url = location.pathname.replace(/\/docs\/?$/, '/openapi.json');
  fetch(url).then(function (r) {
    if (!r.ok) throw new Error('openapi.json: HTTP ' + r.status);
    return r.json();
  }).then(render).catch(function (e) { root.textContent = 'Could not load the API description: ' + e.message; });
})();
`;

/** The page; the same for every request. */
export function docsHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${API_TITLE}</title>
<style>${STYLE}</style>
</head>
<body>
<main id="root"><p>Loading the API description…</p><noscript>This page needs JavaScript; the raw description is at <a href="openapi.json">openapi.json</a>.</noscript></main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
