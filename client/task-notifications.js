/*!
 * laurel task notifications — browser client for the /ws/tasks/ consumer.
 *
 * Dependency-free. Works as a classic <script> (defines the global
 * `taskNotifications` and the factory `TaskNotifications.create`) and is also
 * the single source of the ES module task-notifications.mjs, which imports this
 * file and re-exports the same objects. Copy both files into a Django static
 * directory to serve them yourself. Documented in docs/client.md.
 *
 * Protocol (the seed consumer, served by laurel or Daphne + Channels):
 *   client → server  {"action": "subscribe", "task_id": ID}
 *                    {"action": "unsubscribe", "task_id": ID}
 *   server → client  {"type": "task_update" | "task_complete" | "task_error"
 *                     | "user_..." | "error", ...}
 */
(function (global) {
  "use strict";

  var STATE_EVENTS = ["open", "close", "reconnecting"];

  function defaultURL() {
    var loc = global.location;
    var scheme = loc && loc.protocol === "https:" ? "wss://" : "ws://";
    return scheme + (loc ? loc.host : "localhost") + "/ws/tasks/";
  }

  // resolveURL accepts ws(s)://, http(s):// and path-only URLs.
  function resolveURL(url) {
    if (!url) {
      return defaultURL();
    }
    if (/^wss?:\/\//i.test(url)) {
      return url;
    }
    var loc = global.location;
    var abs = loc ? new URL(url, loc.href) : new URL(url);
    return abs.href.replace(/^http/i, "ws");
  }

  /**
   * create returns a new, unconnected client.
   *
   * options (all optional):
   *   url          default URL for connect()
   *   minDelay     first reconnect delay ceiling in ms (default 500)
   *   maxDelay     largest reconnect delay ceiling in ms (default 30000)
   *   random       function returning [0, 1), for the jitter (default Math.random)
   *   WebSocket    the WebSocket constructor (default the global one)
   */
  function create(options) {
    options = options || {};
    var minDelay = options.minDelay > 0 ? options.minDelay : 500;
    var maxDelay = options.maxDelay > 0 ? options.maxDelay : 30000;
    var random = options.random || Math.random;
    var WS = options.WebSocket || global.WebSocket;

    var url = null;
    var ws = null;
    var state = "idle"; // idle | connecting | open | reconnecting | closed
    var attempt = 0;
    var timer = null;
    var subscriptions = []; // task ids in subscription order
    var handlers = {};

    function emit(type, data) {
      var list = handlers[type];
      if (!list) {
        return;
      }
      list = list.slice();
      for (var i = 0; i < list.length; i++) {
        try {
          list[i].call(client, data);
        } catch (err) {
          if (global.console) {
            global.console.error("taskNotifications: " + type + " handler failed", err);
          }
        }
      }
    }

    function send(action, taskId) {
      if (ws && ws.readyState === 1) {
        ws.send(JSON.stringify({ action: action, task_id: taskId }));
        return true;
      }
      return false;
    }

    function indexOf(taskId) {
      for (var i = 0; i < subscriptions.length; i++) {
        if (subscriptions[i] === taskId) {
          return i;
        }
      }
      return -1;
    }

    // backoff is "equal jitter" exponential backoff: a delay drawn uniformly
    // from [ceiling/2, ceiling), the ceiling doubling from minDelay up to
    // maxDelay with each failed attempt.
    function backoff(n) {
      var ceiling = Math.min(maxDelay, minDelay * Math.pow(2, n));
      return Math.round(ceiling / 2 + (random() * ceiling) / 2);
    }

    function scheduleReconnect() {
      var delay = backoff(attempt);
      attempt++;
      state = "reconnecting";
      emit("reconnecting", { attempt: attempt, delay: delay });
      timer = setTimeout(function () {
        timer = null;
        open();
      }, delay);
    }

    // When the browser comes back online (laptop wakes up, network
    // returns), a pending reconnect is attempted at once instead of
    // waiting out the backoff.
    function onOnline() {
      if (state === "reconnecting" && timer) {
        clearTimeout(timer);
        timer = null;
        open();
      }
    }
    if (global.addEventListener) {
      global.addEventListener("online", onOnline);
    }

    function open() {
      state = attempt === 0 ? "connecting" : "reconnecting";
      var sock;
      try {
        sock = new WS(url);
      } catch (err) {
        scheduleReconnect();
        return;
      }
      ws = sock;
      sock.onopen = function () {
        if (ws !== sock) {
          return;
        }
        attempt = 0;
        state = "open";
        // Re-subscribe everything: queued calls and, after a reconnect,
        // every task subscribed before the connection dropped.
        for (var i = 0; i < subscriptions.length; i++) {
          send("subscribe", subscriptions[i]);
        }
        emit("open", { url: url });
      };
      sock.onmessage = function (ev) {
        if (ws !== sock) {
          return;
        }
        var data;
        try {
          data = JSON.parse(ev.data);
        } catch (err) {
          return;
        }
        if (data && typeof data.type === "string") {
          emit(data.type, data);
        }
        emit("message", data);
      };
      sock.onclose = function (ev) {
        if (ws !== sock) {
          return;
        }
        ws = null;
        var info = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean };
        emit("close", info);
        // A close handler may have called disconnect().
        if (state !== "closed") {
          scheduleReconnect();
        }
      };
    }

    var client = {
      /**
       * connect opens the socket (default ws(s)://<location.host>/ws/tasks/)
       * and keeps it open, reconnecting with jittered exponential backoff
       * until disconnect(). Calling it while connected is a no-op unless the
       * URL changes. Returns the client.
       */
      connect: function (u) {
        var next = resolveURL(u || options.url);
        if (ws && url === next && state !== "closed") {
          return client;
        }
        if (ws || timer) {
          client.disconnect();
        }
        url = next;
        attempt = 0;
        open();
        return client;
      },

      /**
       * subscribe asks for the events of taskId. Before the socket is open
       * the call is queued; after a reconnect it is replayed.
       */
      subscribe: function (taskId) {
        if (indexOf(taskId) < 0) {
          subscriptions.push(taskId);
          send("subscribe", taskId);
        }
        return client;
      },

      /** unsubscribe stops the events of taskId. */
      unsubscribe: function (taskId) {
        var i = indexOf(taskId);
        if (i >= 0) {
          subscriptions.splice(i, 1);
          send("unsubscribe", taskId);
        }
        return client;
      },

      /**
       * on registers fn for a message type ("task_update", "task_complete",
       * "task_error", "user_message", "error", ...), for "message" (every
       * frame) or for a connection event ("open", "close", "reconnecting").
       */
      on: function (type, fn) {
        (handlers[type] = handlers[type] || []).push(fn);
        return client;
      },

      /** off removes fn from type; without fn, every handler of type. */
      off: function (type, fn) {
        var list = handlers[type];
        if (!list) {
          return client;
        }
        if (!fn) {
          delete handlers[type];
          return client;
        }
        for (var i = list.length - 1; i >= 0; i--) {
          if (list[i] === fn) {
            list.splice(i, 1);
          }
        }
        return client;
      },

      /**
       * disconnect closes the socket with 1000 and stops reconnecting.
       * Subscriptions are kept for a later connect().
       */
      disconnect: function () {
        state = "closed";
        if (timer) {
          clearTimeout(timer);
          timer = null;
        }
        if (ws) {
          var sock = ws;
          if (sock.readyState === 0 || sock.readyState === 1) {
            sock.close(1000);
          } else {
            ws = null;
          }
        }
        return client;
      },

      /** state is "idle", "connecting", "open", "reconnecting" or "closed". */
      get state() {
        return state;
      },

      /** subscriptions lists the subscribed task ids, in order. */
      get subscriptions() {
        return subscriptions.slice();
      },

      /** backoff returns the delay in ms used before reconnect attempt n (0-based). */
      backoff: backoff,

      /** stateEvents lists the connection events. */
      stateEvents: STATE_EVENTS.slice()
    };
    return client;
  }

  var api = { create: create, version: "1" };
  global.TaskNotifications = api;
  global.taskNotifications = create();
})(typeof globalThis !== "undefined" ? globalThis : typeof self !== "undefined" ? self : this);
