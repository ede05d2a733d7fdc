// The example site's shell: a tiny client-side router (the edge answers unknown extension-less
// paths with index.html, Cloudflare Pages' single-page-app rule), a gallery of responsive image
// variants made by the edge, and one call to the container backend behind /api.
const VERSION = "__VERSION__";
const IMAGES = __IMAGES__;
document.documentElement.dataset.appVersion = VERSION;

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

async function home(main) {
  main.replaceChildren(el("h2", {}, "Home"), el("p", { id: "greeting" }, "asking the backend…"));
  try {
    const r = await fetch("/api/hello", { headers: { accept: "application/json" } });
    const body = await r.json();
    document.getElementById("greeting").textContent = body.message;
    performance.mark("api-done");
  } catch (e) {
    document.getElementById("greeting").textContent = "the backend is not reachable (offline?)";
  }
}

function gallery(main) {
  main.replaceChildren(el("h2", {}, "Gallery"));
  const grid = el("div", { class: "grid", id: "gallery" });
  for (const name of IMAGES) {
    const src = `/img/${name}`;
    grid.append(el("img", {
      src: `${src}?w=320&fmt=auto`,
      srcset: [320, 640].map((w) => `${src}?w=${w}&fmt=auto ${w}w`).join(", "),
      sizes: "(max-width: 700px) 100vw, 320px",
      alt: name, width: "320", loading: "lazy",
    }));
  }
  main.append(grid);
}

function page(main) {
  main.replaceChildren(el("h2", {}, "In-app page"), el("p", { id: "route" }, location.pathname));
}

const routes = { "/": home, "/gallery": gallery };
(routes[location.pathname] || page)(document.getElementById("app"));

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => {});
}
document.body.dataset.ready = VERSION;
// The shell's script has run and its handlers are attached (the benchmark's time to interactive).
performance.mark("app-ready");
