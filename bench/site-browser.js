// First contentful paint and time to interactive of the example site, through several servers,
// cold and warm, interleaved, in headless Chromium (Debian's, driven by playwright-core).
//   node site-browser.js ROUNDS NAME=URL [NAME=URL ...]
// cold: a fresh browser context (empty HTTP cache, no service worker);
// warm: a context that loaded the site once and whose service worker controls it.
// Each under two networks: loopback, and Lighthouse's desktop throttling (40 ms RTT,
// 10 Mbit/s) emulated through the DevTools protocol. Prints one JSON line per sample.
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

const NETWORKS = {
  loopback: null,
  desktop: { offline: false, latency: 40, downloadThroughput: 10240 * 1024 / 8, uploadThroughput: 10240 * 1024 / 8 },
};

async function measure(context, url, network) {
  const page = await context.newPage();
  if (NETWORKS[network]) {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', NETWORKS[network]);
  }
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => performance.getEntriesByName('app-ready').length > 0
    && performance.getEntriesByName('first-contentful-paint').length > 0
    && performance.getEntriesByName('api-done').length > 0, null, { timeout: 20000 });
  const m = await page.evaluate(() => {
    const at = (n) => performance.getEntriesByName(n)[0].startTime;
    const nav = performance.getEntriesByType('navigation')[0];
    const bytes = performance.getEntriesByType('resource').reduce((s, r) => s + r.transferSize, nav.transferSize);
    return { fcp: at('first-contentful-paint'), tti: at('app-ready'), api: at('api-done'), ttfb: nav.responseStart, bytes,
      controlled: !!navigator.serviceWorker.controller };
  });
  await page.close();
  return m;
}

async function warmed(browser, url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(url, { waitUntil: 'load' });
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true }));
    }
  });
  await page.close();
  return context;
}

(async () => {
  const [rounds, ...targets] = process.argv.slice(2);
  const servers = targets.map((t) => { const i = t.indexOf('='); return { name: t.slice(0, i), url: t.slice(i + 1) }; });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const warm = {};
  for (const s of servers) warm[s.name] = await warmed(browser, s.url);
  for (let round = 0; round < Number(rounds); round++) {
    // Alternate who goes first, so neither always runs on a browser that just did the other.
    const order = round % 2 ? [...servers].reverse() : servers;
    for (const network of Object.keys(NETWORKS)) {
      for (const s of order) {
        const cold = await browser.newContext();
        console.log(JSON.stringify({ server: s.name, network, state: 'cold', ...(await measure(cold, s.url, network)) }));
        await cold.close();
        console.log(JSON.stringify({ server: s.name, network, state: 'warm', ...(await measure(warm[s.name], s.url, network)) }));
      }
    }
  }
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });
