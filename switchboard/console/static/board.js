// The queue board, kept current by server-sent events: each event carries the whole board
// (a few rows per queue), and the rows are rewritten in place with textContent only.
"use strict";

(function () {
  const main = document.getElementById("main");
  const status = document.getElementById("live-status");
  const liveUrl = main.dataset.liveUrl;
  const boardUrl = main.dataset.boardUrl;
  const ended = document.getElementById("live-ended");
  const taskUrl = main.dataset.taskUrl;
  // The first update only confirms what the server rendered: nothing to draw the eye to.
  let highlight = false;

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    const pad = (n) => String(n).padStart(2, "0");
    if (h) return `${h}h ${pad(m)}m ${pad(s)}s`;
    if (m) return `${m}m ${pad(s)}s`;
    return `${s}s`;
  }

  function cell(tag, text, className) {
    const el = document.createElement(tag);
    el.textContent = text;
    if (className) el.className = className;
    return el;
  }

  function setField(row, field, value) {
    const td = row.querySelector(`[data-field="${field}"]`);
    if (td && td.textContent !== String(value)) {
      td.textContent = value;
      if (!highlight) return;
      row.classList.remove("flash");
      void row.offsetWidth; // restart the highlight
      row.classList.add("flash");
    }
  }

  function queueRow(q) {
    const tr = document.createElement("tr");
    tr.dataset.queue = q.sid;
    const th = document.createElement("th");
    th.scope = "row";
    th.append(cell("span", q.name, "name"), cell("code", q.target_workers, "expr"));
    tr.append(th);
    for (const field of ["waiting", "by_priority", "longest_wait", "reserved", "assigned",
                         "wrapping", "eligible", "available"]) {
      const td = cell("td", "", field === "by_priority" ? "" : "num");
      td.dataset.field = field;
      tr.append(td);
    }
    return tr;
  }

  function renderQueues(queues) {
    const body = document.querySelector("#queues tbody");
    const existing = new Map([...body.querySelectorAll("tr[data-queue]")].map((r) => [r.dataset.queue, r]));
    const rows = queues.map((q) => {
      const row = existing.get(q.sid) || queueRow(q);
      setField(row, "waiting", q.waiting);
      const prio = row.querySelector('[data-field="by_priority"]');
      const text = q.waiting_by_priority.map(([p, n]) => `p${p}: ${n}`).join(" ");
      if (prio.dataset.text !== text) {
        prio.dataset.text = text;
        prio.replaceChildren(...q.waiting_by_priority.map(([p, n]) => cell("span", `p${p}: ${n}`, "prio")));
      }
      setField(row, "longest_wait", age(q.longest_wait_s));
      for (const field of ["reserved", "assigned", "wrapping", "eligible", "available"]) {
        setField(row, field, q[field] ?? "…"); // null: not counted yet
      }
      return row;
    });
    if (rows.length) body.replaceChildren(...rows);
  }

  function renderWaiting(tasks) {
    const body = document.querySelector("#waiting tbody");
    if (!tasks.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = cell("td", "No task is waiting.");
      td.colSpan = 4;
      tr.append(td);
      body.replaceChildren(tr);
      return;
    }
    body.replaceChildren(...tasks.map((t) => {
      const tr = document.createElement("tr");
      tr.dataset.task = t.sid;
      const link = cell("a", t.sid);
      link.href = taskUrl + t.sid;
      const first = document.createElement("td");
      first.append(link);
      tr.append(first, cell("td", t.queue_name), cell("td", t.priority, "num"), cell("td", age(t.age_s), "num"));
      return tr;
    }));
  }

  function renderActivities(activities) {
    const list = document.getElementById("activities");
    list.replaceChildren(...activities.map((a) => {
      const li = document.createElement("li");
      li.className = a.available ? "available" : "unavailable";
      li.append(cell("span", a.friendly_name, "name"), document.createTextNode(" "), cell("span", a.workers, "count"));
      return li;
    }));
  }

  // The board stops being live: say why, rather than leave figures that no longer move.
  function stop(why, signInUrl) {
    status.textContent = why === "signed-out" ? "Signed out" : "Not live";
    status.className = "live off";
    if (why === "gone") {
      document.getElementById("live-ended-text").textContent = "This workspace no longer exists.";
      document.getElementById("sign-in-again").hidden = true;
    } else if (why === "refused") {
      document.getElementById("live-ended-text").textContent =
        "The live board stopped: reload the page to start it again.";
      document.getElementById("sign-in-again").hidden = true;
    } else if (signInUrl) {
      document.getElementById("sign-in-again").href = signInUrl;
    }
    ended.hidden = false;
    main.dataset.live = why;
  }

  function connect() {
    const source = new EventSource(liveUrl);
    source.addEventListener("open", () => {
      status.textContent = "Live";
      status.className = "live on";
    });
    source.addEventListener("board", (event) => {
      const board = JSON.parse(event.data);
      renderQueues(board.queues);
      renderWaiting(board.waiting_tasks);
      renderActivities(board.activities);
      highlight = true;
      status.textContent = "Live";
      status.className = "live on";
      main.dataset.updates = String(Number(main.dataset.updates || 0) + 1);
    });
    source.addEventListener("signed-out", (event) => {
      source.close(); // or EventSource would reconnect, and be refused
      stop("signed-out", JSON.parse(event.data).sign_in);
    });
    source.addEventListener("error", () => {
      if (source.readyState !== EventSource.CLOSED) {
        status.textContent = "Reconnecting…";
        status.className = "live off";
        return;
      }
      // The server refused a reconnection: its answer says why (401: no session, 404: no
      // such workspace for this account).
      fetch(boardUrl, { credentials: "same-origin", cache: "no-store" })
        .then((answer) => stop(answer.status === 401 ? "signed-out" : answer.status === 404 ? "gone" : "refused"))
        .catch(() => stop("refused"));
    });
  }

  connect();
})();
