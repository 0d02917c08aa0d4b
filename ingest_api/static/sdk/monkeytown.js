// Monkeytown Analytics, the browser client for games: served at /sdk/monkeytown.js, plain ES2020, no dependencies.
// A classic <script> defines window.Monkeytown; `import "/sdk/monkeytown.js"` in a module does the same.
//
//   const mt = Monkeytown.init({ url: "https://analytics.example.com", key: "<write key>" });
//   mt.track("move", { game_id: "g-1", move_type: "place", session_id: "s-1" });
//   await mt.flush();
//
// What it guarantees: every event gets its event_id once, when tracked, and keeps it through every resend, so the
// server stores it exactly once (at-least-once delivery, deduplicated by event_id); an event is resent until the
// server answers for it (accepted, duplicate, or rejected: a rejected event is reported and never resent); each
// send stamps a fresh `sent_at`, with which the server corrects the client's clock skew.
"use strict";

(function (global) {
  const DEFAULTS = Object.freeze({
    url: "", // the API's address, e.g. "https://analytics.example.com"; "" = this page's origin
    key: "", // a write key
    transport: "auto", // "auto": the WebSocket, HTTP when it is refused; "websocket": only it; "http": only HTTP
    batchSize: 50, // events per message at most
    flushIntervalMs: 1000, // a batch that is not full waits at most this long
    maxInFlight: 4, // socket messages awaiting their ack at once
    backoffBaseMs: 500,
    backoffMaxMs: 30000,
    refusalsBeforeHttp: 3, // handshakes refused in a row (the socket never having opened) before "auto" uses HTTP
    ackTimeoutMs: 15000, // a socket that leaves a message unanswered this long is dropped; its messages are resent
    requestTimeoutMs: 15000,
    maxQueued: 10000, // events kept unanswered at most; beyond it the oldest are given up on (reported)
    onResult: null, // (result, event): the server's answer for one event (status accepted, duplicate or rejected)
    onError: null, // (error): trouble not tied to one answer: {code, message, events?} (events: given up on)
  });

  const MAX_MESSAGE_BYTES = 1024 * 1024 - 4096; // the server's cap is 1 MiB; the margin covers the brackets
  const MAX_KEEPALIVE_BYTES = 60 * 1024; // browsers allow 64 KiB of keepalive bodies in flight
  const CLOSE_TOO_BIG = 1009;
  const CLOSE_GOING_AWAY = 1001;
  const EVENT_ID = /^[A-Za-z0-9_-]{1,64}$/;
  const utf8 = new TextEncoder();

  // --- pure helpers (exported as Monkeytown.internals for tests; not a stable API) ------------------------------

  /** A delay before retry number `attempt` (0-based): exponential, capped, with "equal jitter" (never 0). */
  function backoffDelay(attempt, baseMs, maxMs, random = Math.random) {
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  }

  /** A random event id of [A-Za-z0-9_-], at most 64 characters. */
  function newEventId(crypto = global.crypto) {
    if (crypto && typeof crypto.randomUUID === "function") {
      return crypto.randomUUID();
    }
    if (crypto && typeof crypto.getRandomValues === "function") {
      // randomUUID needs a secure context; getRandomValues does not
      const bytes = crypto.getRandomValues(new Uint8Array(16));
      return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    }
    const part = () => Math.random().toString(36).slice(2, 12);
    return `${Date.now().toString(36)}-${part()}${part()}${part()}`;
  }

  /** The event as sent: its fields with `sent_at` set to now. */
  function stamped(event, now = new Date()) {
    return JSON.stringify(Object.assign({}, event, { sent_at: now.toISOString() }));
  }

  /**
   * The next message: the first `limit` of `entries` whose JSON fits `maxBytes` (always at least one), as
   * {count, body}, each event stamped with the same sent_at.
   */
  function nextMessage(entries, limit, maxBytes = MAX_MESSAGE_BYTES, now = new Date()) {
    const parts = [];
    let bytes = 2;
    for (const entry of entries.slice(0, limit)) {
      const part = stamped(entry.event, now);
      const size = utf8.encode(part).length + 1;
      if (parts.length > 0 && bytes + size > maxBytes) {
        break;
      }
      parts.push(part);
      bytes += size;
    }
    return { count: parts.length, body: `[${parts.join(",")}]` };
  }

  function baseUrl(url) {
    return (url || global.location.origin).replace(/\/+$/, "");
  }

  function streamUrl(url, key) {
    const http = baseUrl(url);
    return `${http.replace(/^http/, "ws")}/api/events/stream?key=${encodeURIComponent(key)}`;
  }

  // --- the client -----------------------------------------------------------------------------------------------

  function createClient(options) {
    const config = Object.assign({}, DEFAULTS, options);
    if (!["auto", "websocket", "http"].includes(config.transport)) {
      throw new TypeError(`transport must be "auto", "websocket" or "http", not ${JSON.stringify(config.transport)}`);
    }
    if (!config.key) {
      throw new TypeError("a write key is needed: Monkeytown.init({key: ...})");
    }
    const eventsUrl = `${baseUrl(config.url)}/api/events`;
    const headers = { Authorization: `Bearer ${config.key}`, "Content-Type": "application/json" };
    const hasWebSocket = typeof global.WebSocket === "function";

    let mode = config.transport === "http" || (config.transport === "auto" && !hasWebSocket) ? "http" : "websocket";
    let ordinal = 0;
    let batchLimit = config.batchSize; // halved when the server finds a message too big
    let closed = false;
    let due = false; // everything queued may leave, full batch or not (the interval passed, flush(), a resend)
    let pausedUntil = 0; // no message leaves before this (Retry-After, backoff)
    let attempt = 0; // failures in a row, for the backoff
    let batchTimer = null;
    let wakeTimer = null;
    const queue = []; // entries waiting to be sent (or sent again), oldest first
    const unanswered = new Set(); // every entry without a final answer, in tracking order
    const waiters = []; // flush() promises: {upTo, resolve}

    // the socket
    let socket = null;
    let socketOpen = false;
    let everOpened = false;
    let refusals = 0; // handshakes refused in a row
    let sent = 0; // messages sent on this connection: the seq of the last one
    let inFlight = []; // [{seq, entries, sentAt}] awaiting their ack, in order
    let ackTimer = null;

    // HTTP
    let posting = false;

    function track(type, fields) {
      if (closed) {
        throw new Error("this Monkeytown client is closed");
      }
      if (typeof type !== "string" || type === "") {
        throw new TypeError("track(type, fields): type is a non-empty string such as \"move\"");
      }
      const event = Object.assign({}, fields, { type });
      if (event.event_id === undefined || event.event_id === null) {
        event.event_id = newEventId();
      }
      if (event.timestamp === undefined || event.timestamp === null) {
        event.timestamp = new Date().toISOString();
      }
      JSON.stringify(event); // a field JSON cannot carry (a BigInt, a cycle) throws here, at the caller
      const entry = { ordinal: ++ordinal, event };
      queue.push(entry);
      unanswered.add(entry);
      dropBeyondTheCap();
      if (queue.length >= batchLimit) {
        pump(false);
      }
      if (queue.length > 0 && batchTimer === null) {
        batchTimer = setTimeout(() => {
          batchTimer = null;
          pump(true);
        }, config.flushIntervalMs);
      }
      return event;
    }

    function flush() {
      const upTo = ordinal;
      const done = new Promise((resolve) => waiters.push({ upTo, resolve }));
      releaseWaiters();
      pump(true);
      return done;
    }

    async function close(timeoutMs = 5000) {
      if (closed) {
        return;
      }
      let timer = null;
      await Promise.race([flush(), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
      closed = true;
      [batchTimer, wakeTimer, ackTimer].forEach(clearTimeout);
      if (typeof global.removeEventListener === "function") {
        global.removeEventListener("pagehide", sendBeforeUnload);
        global.removeEventListener("visibilitychange", flushWhenHidden);
      }
      if (socket) {
        const ws = socket;
        detachSocket();
        ws.close(1000, "client closed");
      }
      if (unanswered.size > 0) {
        giveUp([...unanswered], "closed", "the client closed before the server answered for these events");
      }
    }

    // --- answers ----------------------------------------------------------------------------------------------

    function oldestUnanswered() {
      for (const entry of unanswered) {
        return entry.ordinal;
      }
      return Infinity;
    }

    function releaseWaiters() {
      const oldest = oldestUnanswered();
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].upTo < oldest) {
          waiters.splice(i, 1)[0].resolve();
        }
      }
    }

    function safely(callback, ...args) {
      try {
        if (typeof callback === "function") {
          callback(...args);
        }
      } catch (error) {
        // a failing callback must not stop the client
        setTimeout(() => {
          throw error;
        });
      }
    }

    function answer(entry, result) {
      if (!unanswered.delete(entry)) {
        return;
      }
      safely(config.onResult, result, entry.event);
      releaseWaiters();
    }

    function giveUp(entries, code, message) {
      const events = [];
      for (const entry of entries) {
        if (unanswered.delete(entry)) {
          events.push(entry.event);
        }
        const queued = queue.indexOf(entry);
        if (queued >= 0) {
          queue.splice(queued, 1);
        }
      }
      if (events.length > 0) {
        safely(config.onError, { code, message, events });
      }
      releaseWaiters();
    }

    function reportError(code, message) {
      safely(config.onError, { code, message });
    }

    function dropBeyondTheCap() {
      const excess = queue.length - config.maxQueued;
      if (excess > 0) {
        giveUp(queue.slice(0, excess), "queue_full", `over ${config.maxQueued} events waiting: the oldest dropped`);
      }
    }

    /** Puts entries back at the front of the queue, to be sent again (with a fresh sent_at). */
    function handBack(entries) {
      const waiting = entries.filter((entry) => unanswered.has(entry));
      queue.unshift(...waiting);
      due = due || waiting.length > 0;
    }

    /** The per-event results of a message's answer (the body POST /api/events gives for an array). */
    function applyResults(entries, body) {
      if (!body || !Array.isArray(body.results)) {
        handBack(entries);
        return false;
      }
      const answered = new Set();
      for (const result of body.results) {
        const entry = entries[result.index];
        if (entry && !answered.has(entry)) {
          answered.add(entry);
          answer(entry, result);
        }
      }
      handBack(entries.filter((entry) => !answered.has(entry)));
      return true;
    }

    /** A message's answer that holds per-event results; one that does not is a server fault: resent later. */
    function answeredWith(entries, body) {
      if (applyResults(entries, body)) {
        attempt = 0;
      } else {
        pause();
        reportError("bad_answer", "an answer without per-event results: the events will be sent again");
      }
    }

    /** A message-level refusal ({error, message}): nothing of the message was stored. */
    function messageRefused(entries, code, message, retryAfterSeconds) {
      if (/too_large|too_big/.test(code) && entries.length > 1) {
        batchLimit = Math.max(1, Math.floor(entries.length / 2));
        handBack(entries);
      } else if (/too_large|too_big|malformed|bad_request|empty|unsupported|unauthorized|forbidden/.test(code)) {
        giveUp(entries, code, message); // sending it again would get the same answer
      } else {
        handBack(entries);
        pause(retryAfterSeconds);
        reportError(code, message);
      }
    }

    /** No message leaves for `retryAfterSeconds` (a number, or its text), else for the next backoff delay. */
    function pause(retryAfterSeconds) {
      const given = retryAfterSeconds !== undefined && retryAfterSeconds !== null && retryAfterSeconds !== "";
      const seconds = given ? Number(retryAfterSeconds) : NaN;
      const delay = Number.isFinite(seconds) && seconds >= 0
        ? seconds * 1000
        : backoffDelay(attempt, config.backoffBaseMs, config.backoffMaxMs);
      attempt += 1;
      pausedUntil = Math.max(pausedUntil, Date.now() + delay);
    }

    // --- sending ------------------------------------------------------------------------------------------------

    /** Sends what can leave now: full batches, or everything once `all` (the interval passed, or flush()). */
    function pump(all) {
      due = due || all;
      if (closed) {
        return;
      }
      const wait = pausedUntil - Date.now();
      if (wait > 0) {
        wakeAfter(wait);
        return;
      }
      while (queue.length > 0 && (due || queue.length >= batchLimit)) {
        if (!(mode === "http" ? sendOverHttp() : sendOverSocket())) {
          return;
        }
      }
      due = due && queue.length > 0;
    }

    function wakeAfter(ms) {
      clearTimeout(wakeTimer);
      wakeTimer = setTimeout(() => {
        wakeTimer = null;
        pump(true);
      }, ms);
    }

    /** Takes the next message's entries off the queue: {entries, body}, body stamped now. */
    function takeMessage() {
      const { count, body } = nextMessage(queue, batchLimit);
      return { entries: queue.splice(0, count), body };
    }

    // --- over the WebSocket -------------------------------------------------------------------------------------

    function sendOverSocket() {
      if (!socket) {
        connect();
        return false;
      }
      if (!socketOpen || inFlight.length >= config.maxInFlight) {
        return false;
      }
      const { entries, body } = takeMessage();
      sent += 1;
      inFlight.push({ seq: sent, entries, sentAt: Date.now() });
      socket.send(body);
      armAckTimer();
      return true;
    }

    function connect() {
      let ws;
      try {
        ws = new global.WebSocket(streamUrl(config.url, config.key));
      } catch (error) {
        socketClosed(null, false, 0, String(error)); // e.g. a Content-Security-Policy that forbids the address
        return;
      }
      let opened = false;
      socket = ws;
      ws.onopen = () => {
        if (ws !== socket) {
          return;
        }
        opened = true;
        everOpened = true;
        socketOpen = true;
        refusals = 0;
        sent = 0;
        pump(false);
      };
      ws.onmessage = (message) => ws === socket && acknowledged(message.data);
      ws.onclose = (event) => ws === socket && socketClosed(ws, opened, event.code, event.reason);
      ws.onerror = () => {}; // a close event follows every error
    }

    function acknowledged(text) {
      let ack;
      try {
        ack = JSON.parse(text);
      } catch (error) {
        return dropSocket("an ack that is not JSON");
      }
      const message = inFlight[0];
      if (!message || ack.seq !== message.seq) {
        return dropSocket(`an ack for message ${ack.seq}, expected ${message ? message.seq : "none"}`);
      }
      inFlight.shift();
      armAckTimer();
      if (ack.error) {
        messageRefused(message.entries, ack.error, ack.message, ack.retry_after);
      } else {
        answeredWith(message.entries, ack);
      }
      pump(false);
    }

    function armAckTimer() {
      clearTimeout(ackTimer);
      ackTimer = null;
      if (inFlight.length > 0) {
        const waited = Date.now() - inFlight[0].sentAt;
        ackTimer = setTimeout(() => dropSocket("no ack in time"), Math.max(0, config.ackTimeoutMs - waited));
      }
    }

    /** Gives up on this connection (its close may never come on a dead network) and starts over. */
    function dropSocket(why) {
      const ws = socket;
      socketClosed(ws, true, 4000, why);
      if (ws) {
        ws.close(4000, why.slice(0, 100));
      }
    }

    function detachSocket() {
      if (socket) {
        socket.onopen = socket.onmessage = socket.onclose = null;
      }
      socket = null;
      socketOpen = false;
      clearTimeout(ackTimer);
      const unacknowledged = inFlight.map((message) => message.entries);
      inFlight = [];
      return unacknowledged;
    }

    function socketClosed(ws, opened, code, reason) {
      const unacknowledged = detachSocket();
      // handed back last first, so that the queue keeps the order they were sent in
      for (const entries of unacknowledged.slice(1).reverse()) {
        handBack(entries);
      }
      if (unacknowledged.length > 0) {
        const first = unacknowledged[0];
        if (code === CLOSE_TOO_BIG) {
          messageRefused(first, "message_too_big", reason || "the message was too big for the server");
        } else {
          handBack(first);
        }
      }
      if (closed) {
        return;
      }
      if (!opened) {
        refusals += 1;
        // refused before ever opening (an Origin not allowed, a proxy without WebSocket): HTTP; after having
        // opened, the server is restarting or down, and the socket is worth waiting for
        if (config.transport === "auto" && !everOpened && refusals >= config.refusalsBeforeHttp) {
          mode = "http";
          reportError("websocket_refused", `the WebSocket was refused ${refusals} times: sending over HTTP`);
          pump(true);
          return;
        }
      }
      if (code !== CLOSE_GOING_AWAY) {
        pause();
      }
      if (queue.length > 0) {
        wakeAfter(Math.max(0, pausedUntil - Date.now()));
      }
    }

    // --- over HTTP ------------------------------------------------------------------------------------------------

    function sendOverHttp() {
      if (posting) {
        return false;
      }
      posting = true;
      const { entries, body } = takeMessage();
      post(entries, body).finally(() => {
        posting = false;
        pump(false);
      });
      return true;
    }

    async function post(entries, body) {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), config.requestTimeoutMs);
      try {
        const response = await fetch(eventsUrl, {
          method: "POST", headers, body, credentials: "omit", signal: abort.signal,
        });
        await httpAnswered(entries, response);
      } catch (error) {
        handBack(entries);
        pause();
        reportError("network", `POST ${eventsUrl} failed: ${error.message}`);
      } finally {
        clearTimeout(timer);
      }
    }

    async function httpAnswered(entries, response) {
      const body = await response.json().catch(() => null);
      if (response.ok) {
        answeredWith(entries, body);
        return;
      }
      const code = (body && body.error) || `http_${response.status}`;
      const message = (body && body.message) || `the server answered ${response.status}`;
      const retryable = response.status === 429 || response.status >= 500;
      messageRefused(entries, code, message, retryable ? response.headers.get("Retry-After") : undefined);
    }

    // --- when the page goes away ----------------------------------------------------------------------------------

    /** Everything unanswered, over keepalive requests that outlive the page; resent later if the page stays. */
    function sendBeforeUnload() {
      const entries = [...unanswered];
      while (entries.length > 0) {
        const { count, body } = nextMessage(entries, config.batchSize, MAX_KEEPALIVE_BYTES);
        entries.splice(0, count);
        fetch(eventsUrl, { method: "POST", headers, body, keepalive: true, credentials: "omit" }).catch(() => {});
      }
    }

    function flushWhenHidden() {
      if (global.document && global.document.visibilityState === "hidden") {
        pump(true);
      }
    }

    if (typeof global.addEventListener === "function") {
      global.addEventListener("pagehide", sendBeforeUnload);
      global.addEventListener("visibilitychange", flushWhenHidden);
    }

    return Object.freeze({
      track,
      flush,
      close,
      /** "websocket" or "http": how the next message leaves. */
      get transport() {
        return mode;
      },
      /** Events tracked that have no final answer yet. */
      get pending() {
        return unanswered.size;
      },
    });
  }

  function init(options) {
    return createClient(options || {});
  }

  global.Monkeytown = Object.freeze({
    init,
    version: "1",
    internals: Object.freeze({ backoffDelay, newEventId, nextMessage, streamUrl, EVENT_ID }),
  });
})(typeof globalThis !== "undefined" ? globalThis : window);
