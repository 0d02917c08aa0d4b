// The dashboard page: brings the read key (from the address's fragment, then this browser's storage, else a form),
// refreshes the live counters every few seconds and the server-rendered panels every 30 s.
"use strict";

(function () {
  const STORE = "monkeytown.readKey";
  const COUNTERS_EVERY_MS = 2500;
  const PANELS_EVERY_MS = 30000;
  const timers = [];
  let key = null;
  let generation = 0; // a new key starts new refresh loops; the old ones end at their next turn

  const $ = (id) => document.getElementById(id);

  function keyFromFragment() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    return params.get("key");
  }

  function setStatus(text, isError) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  function askForKey(message) {
    timers.splice(0).forEach(clearTimeout);
    key = null;
    localStorage.removeItem(STORE);
    $("key-form").hidden = false;
    $("key-message").textContent = message;
    setStatus("Waiting for a read key.", false);
    $("key-input").focus();
  }

  async function get(path) {
    const response = await fetch(path, { headers: { Authorization: "Bearer " + key }, cache: "no-store" });
    if (response.status === 401) {
      askForKey("That key was refused: enter a read key (or, without MONKEYTOWN_READ_KEYS, a write key).");
      return null;
    }
    if (!response.ok) {
      throw new Error(path + " answered " + response.status);
    }
    return response;
  }

  function showCounters(counters) {
    document.querySelectorAll("[data-counter]").forEach((cell) => {
      const value = counters[cell.dataset.counter];
      cell.textContent = typeof value === "number" ? value.toLocaleString("en-US") : "–";
    });
    $("counters-as-of").textContent = "as of " + new Date(counters.as_of).toLocaleTimeString();
  }

  // each refresh schedules the next once it is over, so a slow answer never piles requests up
  function every(ms, refresh) {
    const mine = generation;
    const run = async () => {
      const ok = await refresh();
      if (key && ok !== false && mine === generation) timers.push(setTimeout(run, ms));
    };
    run();
  }

  async function refreshCounters() {
    try {
      const response = await get("/api/counters");
      if (!response) return false;
      showCounters(await response.json());
      setStatus("Live; counters refresh every " + COUNTERS_EVERY_MS / 1000 + " s, panels every "
                + PANELS_EVERY_MS / 1000 + " s.", false);
    } catch (error) {
      setStatus("The API did not answer (" + error.message + "); retrying.", true);
    }
    return true;
  }

  async function refreshPanels() {
    try {
      const response = await get("/dashboard/panels");
      if (!response) return false;
      // server-rendered and escaped there (Jinja autoescape); the page's CSP runs no inline script
      $("panels").innerHTML = await response.text();
    } catch (error) {
      setStatus("The panels did not load (" + error.message + "); retrying.", true);
    }
    return true;
  }

  function start(newKey) {
    generation += 1;
    key = newKey;
    localStorage.setItem(STORE, key);
    $("key-form").hidden = true;
    every(COUNTERS_EVERY_MS, refreshCounters);
    every(PANELS_EVERY_MS, refreshPanels);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const fromFragment = keyFromFragment();
    if (fromFragment) {
      // out of the address bar, the history and any screenshot of it
      history.replaceState(null, "", location.pathname + location.search);
    }
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const entered = $("key-input").value.trim();
      if (entered) start(entered);
    });
    const stored = fromFragment || localStorage.getItem(STORE);
    if (stored) start(stored); else askForKey($("key-message").textContent);
  });
})();
