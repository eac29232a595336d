#!/usr/bin/env node
// Builds the project when its sources are newer than the last build, then runs the local host
// (default) or the benchmark (`start.js --bench ...`). Plain JS so it runs before anything is built.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const stamp = path.join(root, 'dist', '.tsbuildinfo');

function newestSource(dir) {
  let newest = 0;
  if (!fs.existsSync(dir)) return newest;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

function buildIfNeeded() {
  const built = fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0;
  const sources = Math.max(
    ...['functions', 'src', 'scripts', path.join('test', 'fixtures')].map((d) =>
      newestSource(path.join(root, d)),
    ),
    ...['tsconfig.json', 'tsconfig.build.json', 'package.json'].map(
      (f) => fs.statSync(path.join(root, f)).mtimeMs,
    ),
  );
  if (built >= sources) return;
  process.stdout.write('Building (tsc)...\n');
  execFileSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')],
    {
      stdio: 'inherit',
      cwd: root,
    },
  );
  fs.utimesSync(stamp, new Date(), new Date());
}

buildIfNeeded();
const args = process.argv.slice(2);
if (args[0] === '--build-only') process.exit(0);
if (args[0] === '--bench') {
  require(path.join(root, 'dist', 'scripts', 'bench.js'))
    .main(args.slice(1))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
} else {
  require(path.join(root, 'dist', 'src', 'local-host', 'cli.js')).main(args, root);
}
