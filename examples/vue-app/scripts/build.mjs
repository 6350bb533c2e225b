// Offline build: copy index.html and src/ into dist/, adding a content hash to the bundle name.
// Uses only Node built-ins, so `npm run build` works without `npm install` (CI without a registry, tests).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'assets'), { recursive: true });
const js = readFileSync(join(root, 'src', 'main.js'));
const name = `main-${createHash('sha256').update(js).digest('hex').slice(0, 8)}.js`;
writeFileSync(join(dist, 'assets', name), js);
const html = readFileSync(join(root, 'index.html'), 'utf8').replace('/src/main.js', `/assets/${name}`);
writeFileSync(join(dist, 'index.html'), html);
console.log(`built dist/index.html and dist/assets/${name}`);
