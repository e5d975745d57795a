// Starting ONNX Runtime Web (its module, its Web Worker and the wasm compile: about 0.9 s on 2 cores) and
// downloading the decoder (5 MB).
//
// Imported twice in a page, evaluated once (a module is one instance per page): first by the one-line
// script that app.py's middleware puts at the top of the HTML (serve.BootScript), so both start while
// Streamlit's own code loads and its script runs (2 s before any component mounts); then by live.js,
// which gets the same promises, most often already settled.
// ms since the page opened, for the bench; exposed only where it asked (window.__vaeLiveStats, see live.js)
const timing = window.__vaeLiveStats === true ? (window.__vaeLiveTiming = window.__vaeLiveTiming || {}) : {};
// y = Identity(x), x: float[1]; opset 18 (onnx.helper, serialised and base64-encoded)
const WARM_MODEL = Uint8Array.from(atob("CAg6OgoQCgF4EgF5IghJZGVudGl0eRIEd2FybVoPCgF4EgoKCAgBEgQKAggBYg8KAXkSCgoICAESBAoCCAFCBAoAEBI="),
                                   (c) => c.charCodeAt(0));
const started = new Map(); // lane -> promise of its ort module
const sessions = new Map(); // lane + decoder URL -> promise of {ort, session}
const downloads = new Map(); // decoder URL -> promise of its bytes

function origin(path) { return new URL(path, window.location.origin).href; }

// The ort module, started and with the wasm compiled. `prefix`: where app.py serves the runtime.
// `lane` "": ORT's own Web Worker decodes; the page's first faces and, later, the traversal strip.
// `lane` INLINE: a second instance of the module (the same file under a URL with a query the server
// ignores) that decodes on the page's thread; the faces under a dragged pointer, once it is open.
export const INLINE = "inline";
export function startRuntime(prefix, lane = "") {
  if (!started.has(lane)) {
    started.set(lane, (async () => {
      if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function")
        throw new Error("this browser cannot run WebAssembly");
      const t0 = performance.now(), first = lane === "";
      if (first) timing.start = t0;
      const ort = await import(origin(prefix + "ort.wasm.bundle.min.mjs" + (first ? "" : `?lane=${lane}`)));
      // The wasm is stored gzipped (14 MB -> 3.7 MB); app.py serves it with Content-Encoding: gzip and
      // Content-Type: application/wasm, so the browser inflates it and compiles while it downloads
      // (instantiateStreaming), and caches the compiled code for the next page.
      ort.env.wasm.wasmPaths = { wasm: origin(prefix + "ort-wasm-simd-threaded.wasm") };
      if (first) timing.import = performance.now() - t0;
      // One thread: more need cross-origin isolation, and on 2 cores they measured no faster.
      ort.env.wasm.numThreads = 1;
      // The worker starts and opens a session without holding up the page's thread, which is loading
      // Streamlit meanwhile: on that thread the same start was one 0.45 s task, and the first face came
      // later. While dragging, decoding on the page's thread shows more new faces: a worker's answer comes
      // back at the next free moment of the page's thread, often a frame late (bench/bench_app.py).
      ort.env.wasm.proxy = lane !== INLINE;
      // Start the worker and compile the wasm now, with a one-node model (Identity, 68 bytes), before
      // the decoder (5 MB) is known: the decoder's own session then only has to read its graph.
      const t1 = performance.now(), warm = await ort.InferenceSession.create(WARM_MODEL.slice()); // (a worker takes its bytes)
      if (first) timing.warm = performance.now() - t1;
      warm.release();
      return ort;
    })());
  }
  return started.get(lane);
}

function fetchBytes(url) {
  if (!downloads.has(url)) {
    timing.fetch = performance.now();
    downloads.set(url, fetch(origin(url)).then((r) => {
      if (!r.ok) throw new Error(`the decoder file answered HTTP ${r.status}`);
      return r.arrayBuffer();
    }).then((buf) => { timing.fetched = performance.now(); return buf; }));
  }
  return downloads.get(url);
}

// The decoder at `url` as an ort session in `lane`, once per page, with the ort module that runs it:
// {ort, session}. Its download overlaps the runtime's start.
// The HTML's first line opens the page's default checkpoint's decoder; live.js asks for the one it needs.
export function openDecoder(prefix, url, lane = "") {
  const key = `${lane} ${url}`;
  if (!sessions.has(key)) {
    const bytes = fetchBytes(url), ortReady = startRuntime(prefix, lane);
    sessions.set(key, (async () => {
      // A copy: the proxy hands the bytes over to its worker, which leaves the caller's buffer empty.
      const ort = await ortReady, buf = (await bytes).slice(0), t0 = performance.now();
      // "basic": the session starts in ~0.5 s instead of ~0.8 s with "all", whose layout rewrites made
      // no face faster in WebAssembly.
      const s = await ort.InferenceSession.create(new Uint8Array(buf), { executionProviders: ["wasm"],
                                                                          graphOptimizationLevel: "basic" });
      // One face of z = 0 before any is asked for: a session's first run sets up its buffers (45-50 ms
      // here, against 8-10 ms for the next), and the page's first face should not wait for that.
      const meta = (s.inputMetadata || [])[0], D = meta && meta.shape ? meta.shape[meta.shape.length - 1] : null;
      if (typeof D === "number" && D > 0)
        (await s.run({ [s.inputNames[0]]: new ort.Tensor("float32", new Float32Array(D), [1, D]) }));
      if (lane === "") { timing.session = performance.now() - t0; timing.sessionReady = performance.now(); }
      return { ort, session: s };
    })());
  }
  return sessions.get(key);
}

// The same functions, for live.js to call at once: an import() of this module, even once it is loaded,
// answers in a later task, and while Streamlit still renders the page that was 30-60 ms after the
// component mounted, before its first face could even be asked for.
window.__vaeBoot = { startRuntime, openDecoder, INLINE };
