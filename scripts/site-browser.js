// Drives the example site in headless Chromium (Debian's, through playwright-core) with a
// persistent profile, so that one step's service worker and caches are there for the next:
//   node site-browser.js load    URL PROFILE   the site loads, the worker installs and controls
//                                              the page, the gallery, /api, a 404, the SPA route
//   node site-browser.js offline URL PROFILE   (edge stopped) a reload renders the shell
//   node site-browser.js update  URL PROFILE   (new version published) the next navigation
//                                              after the new worker activates shows it
// Prints one JSON object: per page, the version its HTML, script and stylesheet carry.
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

async function versions(page) {
  await page.waitForFunction(() => document.body && document.body.dataset.ready, null, { timeout: 10000 });
  return page.evaluate(() => ({
    html: document.querySelector('meta[name=site-version]').content,
    js: document.documentElement.dataset.appVersion,
    css: getComputedStyle(document.documentElement).getPropertyValue('--site-version').trim().replace(/"/g, ''),
  }));
}

async function controlled(page) {
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true }));
    }
  });
}

(async () => {
  const [step, url, profile] = process.argv.slice(2);
  const context = await chromium.launchPersistentContext(profile, {
    headless: true,
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const out = { step, errors };
  // Every image response, so that an image that did not load says why (status and body).
  out.images = [];
  page.on('response', async (r) => {
    if (new URL(r.url()).pathname.startsWith('/img/')) {
      const seen = { url: r.url(), status: r.status() };
      if (r.status() !== 200) {
        seen.body = await r.text().catch((e) => `(body unreadable: ${e})`);
      }
      out.images.push(seen);
    }
  });
  page.on('requestfailed', (r) => {
    if (new URL(r.url()).pathname.startsWith('/img/')) {
      out.images.push({ url: r.url(), failed: r.failure() && r.failure().errorText });
    }
  });
  if (step === 'load') {
    const r = await page.goto(url, { waitUntil: 'load' });
    out.status = r.status();
    out.first = await versions(page);
    await controlled(page);
    await page.waitForFunction(() => document.getElementById('greeting').textContent !== 'asking the backend…');
    out.greeting = await page.textContent('#greeting');
    out.cached = await page.evaluate(async () => {
      const names = (await caches.keys()).filter((n) => n.startsWith('tinycdn-'));
      const c = await caches.open(names[0]);
      return (await c.keys()).map((k) => new URL(k.url).pathname).sort();
    });
    await page.goto(`${url}gallery`, { waitUntil: 'load' });
    await page.waitForFunction(() => [...document.querySelectorAll('#gallery img')].every((i) => i.complete), null, { timeout: 20000 });
    out.gallery = await page.$$eval('#gallery img', (imgs) => imgs.map((i) => ({ src: i.currentSrc, width: i.naturalWidth })));
    const nf = await page.goto(`${url}docs/nope`, { waitUntil: 'load' });
    out.not_found = { status: nf.status(), page: await page.$('#not-found') !== null };
    const spa = await page.goto(`${url}some/client/route`, { waitUntil: 'load' });
    await versions(page);
    out.spa = { status: spa.status(), route: await page.textContent('#route') };
    const missing = await page.goto(`${url}assets/missing.js`);
    out.missing_asset = missing.status();
  } else if (step === 'offline') {
    await page.goto(url, { waitUntil: 'load' });
    out.after_reload = await versions(page);
    await page.reload({ waitUntil: 'load' });
    out.after_second_reload = await versions(page);
    out.greeting = await page.textContent('#greeting').catch(() => null);
  } else if (step === 'update') {
    await page.goto(url, { waitUntil: 'load' });
    out.before = await versions(page);
    // The browser checks /sw.js on navigation; the new worker precaches, takes over, and the
    // navigation after that is the new version's.
    await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.ready;
      const changed = new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true }));
      await reg.update();
      await Promise.race([changed, new Promise((_, no) => setTimeout(() => no(new Error('no new worker in 20 s')), 20000))]);
    });
    await page.goto(url, { waitUntil: 'load' });
    out.after = await versions(page);
    out.cache_names = await page.evaluate(async () => (await caches.keys()).filter((n) => n.startsWith('tinycdn-')));
  }
  console.log(JSON.stringify(out));
  await context.close();
})().catch((e) => { console.error(e); process.exit(1); });
