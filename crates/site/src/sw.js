// tinycdn's cache-first service worker, generated for one signed site version.
// Precached URLs are answered from the cache first (navigations included, so the shell renders
// with the network down); everything else (other queries included) goes to the network. Install fetches only the files
// whose revision (BLAKE3) changed since the version this browser has, each checked by the browser
// against its SRI integrity (SHA-384); activate deletes older versions' caches.
const VERSION = "__TINYCDN_VERSION__";
const PRECACHE = __TINYCDN_PRECACHE__;
const PREFIX = "tinycdn-";
const CACHE = PREFIX + VERSION;
const REVISIONS = "/__tinycdn/revisions";
const BY_URL = new Map(PRECACHE.map((e) => [new URL(e.url, self.location).href, e]));

async function previous() {
  for (const name of await caches.keys()) {
    if (name.startsWith(PREFIX) && name !== CACHE) {
      const cache = await caches.open(name);
      const r = await cache.match(REVISIONS);
      if (r) {
        return { cache, revisions: new Map(Object.entries(await r.json())) };
      }
    }
  }
  return { cache: null, revisions: new Map() };
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const old = await previous();
    const kept = {};
    for (const e of PRECACHE) {
      let response = null;
      if (old.cache && old.revisions.get(e.url) === e.revision) {
        response = await old.cache.match(e.url);
      }
      if (!response) {
        // The browser refuses a body whose SHA-384 is not `integrity`: nothing unverified is kept.
        // No cookies: the edge answers from the current version (this worker's), not the one an open
        // page was pinned to.
        response = await fetch(new Request(e.url, { integrity: e.integrity, cache: "no-cache", credentials: "omit", redirect: "error" }));
        if (!response.ok) {
          throw new Error(`precache ${e.url}: ${response.status}`);
        }
      }
      await cache.put(e.url, response);
      kept[e.url] = e.revision;
    }
    await cache.put(REVISIONS, new Response(JSON.stringify(kept), { headers: { "content-type": "application/json" } }));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) {
        await caches.delete(name);
      }
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") {
    return;
  }
  const url = new URL(request.url);
  url.hash = "";
  // Tracking parameters do not make another page (Workbox ignores the same ones); any other
  // query (an image variant, ?w=640) is another resource, left to the network and HTTP cache.
  for (const key of [...url.searchParams.keys()]) {
    if (key.startsWith("utm_") || key === "fbclid") {
      url.searchParams.delete(key);
    }
  }
  const entry = BY_URL.get(url.href);
  if (!entry) {
    return;
  }
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(entry.url);
    return hit || fetch(request);
  })());
});
