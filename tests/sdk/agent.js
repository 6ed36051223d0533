// An agent desktop in miniature: the real twilio-taskrouter SDK, given only ebServer and
// wsServer. Driven by tests/test_realtime_sdk.py: reads one JSON line of options from argv,
// prints one JSON line per thing that happens, and exits when its scenario is over. A push
// that follows one of the agent's own calls (a reservation completed by complete(), a
// transfer canceled by cancel()) is told once that call's answer is, so the lines come in
// one order: answer and push arrive on two sockets, which Node may read in either order.
//
// Scenarios:
//   work     connect, go Available, accept the first reservation, complete its task, wait
//            for the reservation's `completed` event
//   connect  connect and report either `ready` or the first disconnect / error (refusals)
//   reconnect  report each `ready` (one per connection) until `readies` of them
//   presence connect with the presence options given (`closeExistingSessions`,
//            `setWorkerOfflineIfDisconnected`), go Available if `available`, report `ready`,
//            then leave at once if `leave`, else report the server closing the socket
//   fetch    with a Workspace client, fetch the workers named in `workers` and report each
//            success or refusal
//   versions with `enableVersionCheck` (every change sends If-Match with the version the SDK
//            counted): go Available, report a channel's capacity change, set attributes,
//            accept the first reservation, complete its task, set attributes again
//   transfer connect, go Available, accept the first reservation and transfer its task to
//            `to` (mode COLD); report the transfer's events; with `cancel`, cancel it once
//            initiated; complete the (wrapping) reservation once the transfer is over, and
//            leave when that reservation completes
//   receive  connect, go Available, report the first reservation with its incoming
//            transfer, then with `accept` accept it and complete its task; else report it
//            being canceled; leave when the reservation is over
const { Worker, Workspace } = require("twilio-taskrouter");

const options = JSON.parse(process.argv[2]);
// AGENT_LOG=debug (in the environment) shows the SDK's own log, on stderr: stdout is the test's.
const logLevel = process.env.AGENT_LOG || "silent";
const sdkOptions = { ebServer: options.ebServer, wsServer: options.wsServer, logLevel };
if (logLevel !== "silent") {
  for (const name of ["log", "info", "debug", "warn", "error", "trace"]) {
    console[name] = (...parts) => process.stderr.write(parts.map(String).join(" ") + "\n");
  }
}

function say(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

function finish(code = 0) {
  // Let stdout drain before leaving.
  process.stdout.write("", () => process.exit(code));
}

function fail(where, error) {
  say("failed", { where, message: String((error && error.message) || error) });
  finish(1);
}

function work() {
  const worker = new Worker(options.token, sdkOptions);
  worker.on("error", (error) => say("error", { message: String(error.message || error) }));
  worker.on("ready", async () => {
    say("ready", {
      sid: worker.sid,
      activity: worker.activity.name,
      // A descriptor the SDK cannot read is skipped with a log line: count what it kept.
      activities: worker.activities.size,
      channels: worker.channels.size,
    });
    const available = [...worker.activities.values()].find((a) => a.name === "Available");
    try {
      await available.setAsCurrent();
    } catch (error) {
      return fail("setAsCurrent", error);
    }
    say("activity", { activity: worker.activity.name, available: worker.available });
  });
  worker.on("reservationCreated", async (reservation) => {
    say("reservationCreated", {
      sid: reservation.sid,
      status: reservation.status,
      task: reservation.task.sid,
      attributes: reservation.task.attributes,
    });
    const working = (async () => {
      const accepted = await reservation.accept();
      say("accepted", { sid: accepted.sid, status: accepted.status });
      const task = await reservation.task.complete("done in the test");
      say("taskCompleted", { sid: task.sid, status: task.status });
    })().catch((error) => fail("accept/complete", error));
    // Told after complete()'s answer (see the top of this file).
    reservation.on("completed", async (r) => {
      await working;
      say("reservationCompleted", { sid: r.sid, status: r.status });
      worker.disconnect();
      finish(0);
    });
  });
}

function connect() {
  const worker = new Worker(options.token, sdkOptions);
  let over = false;
  // The first outcome ends the scenario (disconnecting emits `disconnected` once more).
  const end = (event, fields) => {
    if (over) return;
    over = true;
    say(event, fields);
    worker.disconnect();
    finish(0);
  };
  worker.on("ready", () => end("ready", { sid: worker.sid }));
  worker.on("disconnected", (why) =>
    end("disconnected", { message: String((why && why.message) || why) }));
  worker.on("error", (error) => end("error", { message: String(error.message || error) }));
}

function reconnect() {
  // Reports every `ready` (the SDK sends one after each reconnect and refetch) until told
  // how many to wait for.
  const worker = new Worker(options.token, sdkOptions);
  let seen = 0;
  worker.on("ready", () => {
    seen += 1;
    say("ready", { activity: worker.activity.name });
    if (seen === options.readies) {
      worker.disconnect();
      finish(0);
    }
  });
  worker.on("disconnected", () => say("disconnected"));
}

function presence() {
  const chosen = { ...sdkOptions };
  for (const name of ["closeExistingSessions", "setWorkerOfflineIfDisconnected"]) {
    if (options[name] !== undefined) chosen[name] = options[name];
  }
  const worker = new Worker(options.token, chosen);
  let over = false;
  const end = () => {
    over = true;
    worker.disconnect();
    finish(0);
  };
  worker.on("ready", async () => {
    if (over) return;
    if (options.available) {
      const available = [...worker.activities.values()].find((a) => a.name === "Available");
      try {
        await available.setAsCurrent();
      } catch (error) {
        return fail("setAsCurrent", error);
      }
    }
    say("ready", { activity: worker.activity.name });
    if (options.leave) end();
  });
  worker.on("disconnected", (why) => {
    if (over) return;
    say("disconnected", { message: String((why && why.message) || why) });
    end();
  });
}

async function fetch() {
  const workspace = new Workspace(options.token, sdkOptions, options.workspaceSid);
  for (const sid of options.workers) {
    try {
      const found = await workspace.fetchWorker(sid);
      say("fetched", { sid: found.sid });
    } catch (error) {
      say("refused", { sid, message: String(error.message || error) });
    }
  }
  finish(0);
}

function versions() {
  const worker = new Worker(options.token, { ...sdkOptions, enableVersionCheck: true });
  const step = async (where, action) => {
    try {
      return await action();
    } catch (error) {
      return fail(where, error);
    }
  };
  worker.on("ready", async () => {
    const available = [...worker.activities.values()].find((a) => a.name === "Available");
    await step("setAsCurrent", () => available.setAsCurrent());
    for (const channel of worker.channels.values()) {
      channel.on("capacityUpdated", async (changed) => {
        say("capacity", { channel: changed.taskChannelUniqueName, capacity: changed.capacity });
        await step("setAttributes", () => worker.setAttributes({ seen: "capacity" }));
        say("attributes", { version: worker.version });
      });
    }
    say("activity", { activity: worker.activity.name, version: worker.version });
  });
  worker.on("reservationCreated", async (reservation) => {
    say("reservationCreated", { sid: reservation.sid, version: worker.version });
    await step("accept", () => reservation.accept());
    await step("complete", () => reservation.task.complete("done"));
    await step("setAttributes", () => worker.setAttributes({ seen: "work" }));
    say("done", { version: worker.version });
    worker.disconnect();
    finish(0);
  });
}

function describeTransfer(transfer) {
  if (!transfer) return null;
  return {
    sid: transfer.sid,
    status: transfer.status,
    type: transfer.type,
    mode: transfer.mode,
    to: transfer.to,
    workerSid: transfer.workerSid,
    reservationSid: transfer.reservationSid,
    failedReason: transfer.transferFailedReason || null,
  };
}

async function goAvailable(worker) {
  const available = [...worker.activities.values()].find((a) => a.name === "Available");
  await available.setAsCurrent();
  say("activity", { activity: worker.activity.name, available: worker.available });
}

function transfer() {
  const worker = new Worker(options.token, sdkOptions);
  let first = null;
  worker.on("error", (error) => say("error", { message: String(error.message || error) }));
  worker.on("ready", () => goAvailable(worker).catch((error) => fail("setAsCurrent", error)));
  worker.on("reservationCreated", async (reservation) => {
    if (first !== null) return; // the task may come back to this agent later: not this test's
    first = reservation;
    const task = reservation.task;
    say("reservationCreated", { sid: reservation.sid, task: task.sid });
    reservation.on("wrapup", (r) => say("wrapup", { sid: r.sid, status: r.status }));
    reservation.on("completed", (r) => {
      say("reservationCompleted", { sid: r.sid, status: r.status, taskStatus: r.task.status });
      worker.disconnect();
      finish(0);
    });
    // The SDK's documentation listens on the OutgoingTransfer `transferInitiated` gives.
    // When the transfer's pushes are read before transfer()'s answer (the server sends the
    // answer first, but the SDK may take longer over it than over a push), that object is
    // replaced by a new one when the answer comes: both are listened on (docs/worker-sdk.md,
    // "Answers before pushes").
    const listened = new Set();
    let canceling = null;
    const listen = (outgoing) => {
      if (!outgoing || listened.has(outgoing)) return;
      listened.add(outgoing);
      for (const name of ["attemptFailed", "completed", "failed", "canceled"]) {
        outgoing.on(name, async (t) => {
          await canceling; // told after cancel()'s answer
          say(`transfer.${name}`, describeTransfer(t));
          if (name !== "attemptFailed") {
            reservation.complete().catch((error) => fail("complete", error));
          }
        });
      }
    };
    task.on("transferInitiated", (outgoing) => {
      say("transferInitiated", describeTransfer(outgoing));
      listen(outgoing);
      if (options.cancel) {
        canceling = outgoing.cancel().then(
          (canceled) => say("cancelAnswered", describeTransfer(canceled)),
          (error) => fail("cancel", error),
        );
      }
    });
    try {
      await reservation.accept();
      say("accepted", { sid: reservation.sid });
      const transferred = await task.transfer(options.to, { mode: "COLD" });
      say("transferAnswered", describeTransfer(transferred.transfers.outgoing));
      listen(transferred.transfers.outgoing);
    } catch (error) {
      fail("transfer", error);
    }
  });
}

function receive() {
  const worker = new Worker(options.token, sdkOptions);
  let first = null;
  const leave = () => {
    worker.disconnect();
    finish(0);
  };
  worker.on("error", (error) => say("error", { message: String(error.message || error) }));
  worker.on("ready", () => goAvailable(worker).catch((error) => fail("setAsCurrent", error)));
  worker.on("reservationCreated", async (reservation) => {
    if (first !== null) return;
    first = reservation;
    say("reservationCreated", {
      sid: reservation.sid,
      task: reservation.task.sid,
      taskStatus: reservation.task.status,
      transfer: describeTransfer(reservation.transfer),
      incoming: describeTransfer(reservation.task.transfers.incoming),
    });
    const working = options.accept
      ? (async () => {
          await reservation.accept();
          const transfer = describeTransfer(reservation.transfer);
          say("accepted", { sid: reservation.sid, transfer });
          const task = await reservation.task.complete("transferred and done");
          say("taskCompleted", { sid: task.sid, status: task.status });
        })().catch((error) => fail("accept/complete", error))
      : null;
    // Told after the answers of this agent's own calls (see the top of this file).
    reservation.on("canceled", async (r) => {
      await working;
      say("reservationCanceled", { sid: r.sid, transfer: describeTransfer(r.transfer) });
      leave();
    });
    reservation.on("completed", async (r) => {
      await working;
      say("reservationCompleted", { sid: r.sid, transfer: describeTransfer(r.transfer) });
      leave();
    });
  });
}

({ work, connect, reconnect, presence, fetch, versions, transfer, receive })[options.scenario]();
