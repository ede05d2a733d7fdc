// A minimal sharp image server, the way next/image uses sharp: the source is read once into
// memory, every request transforms (no result cache), defaults as sharp ships them (its
// concurrency, libvips' cache). GET /NAME?w=&h=&fmt=jpeg|webp|avif&q= fits inside w x h.
// Usage: node sharp-server.js PHOTO_DIR PORT
const http = require('http');
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

const [dir, port] = process.argv.slice(2);
const sources = {};
for (const f of fs.readdirSync(dir)) sources[f] = fs.readFileSync(path.join(dir, f));

http.createServer(async (req, res) => {
  const u = new URL(req.url, 'http://x');
  const src = sources[decodeURIComponent(u.pathname.slice(1))];
  if (!src) { res.writeHead(404); res.end(); return; }
  const w = parseInt(u.searchParams.get('w') || '512', 10);
  const h = parseInt(u.searchParams.get('h') || '512', 10);
  const fmt = u.searchParams.get('fmt') || 'jpeg';
  const q = u.searchParams.get('q');
  const opts = q ? { quality: parseInt(q, 10) } : {};
  try {
    const out = await sharp(src)
      .rotate()
      .resize(w, h, { fit: 'inside', withoutEnlargement: true })
      .toFormat(fmt, opts)
      .toBuffer();
    res.writeHead(200, { 'Content-Type': `image/${fmt}`, 'Content-Length': out.length });
    res.end(out);
  } catch (e) {
    res.writeHead(500); res.end(String(e));
  }
}).listen(parseInt(port, 10), '127.0.0.1');
