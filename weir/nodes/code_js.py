"""The JavaScript side of the `code` node: the compile check and the runner's bootstrap.

Both are closed function expressions that take the script as a *string* (a JSON literal spliced
in by Python) and build the function with ``new AsyncFunction("input", script)``. V8 parses that
text as one function literal and refuses anything that ends the body early, so a script can
never step outside its body into the wrapper (or run while only being compiled). The compiled
body's line 1 is V8's line 3: ``(async function anonymous(input\\n) {\\n<script>\\n})``.

The bootstrap keeps every name it needs in its own closure: the script cannot write the result,
the error report or the timers' bookkeeping; the one global it defines only reads the outcome. It captures the built-ins it
relies on before the script runs, so a script that overwrites ``JSON``, ``Promise.prototype``
or ``String.prototype`` only changes its own behaviour. Being strict code, its functions are
invisible to ``Function.prototype.caller`` and to ``Error.prepareStackTrace`` call sites.
"""

from __future__ import annotations

LINE_OFFSET = 2
"""Lines V8 puts before the script's first line in a dynamically created function."""

COMPILE = r"""
(function (body) {
  "use strict";
  var AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
  new AsyncFunction("input", body);
})
"""
"""Compiles the script and throws its SyntaxError; never calls it."""

BOOTSTRAP = r"""
(function (body, payload, maxBytes, reader) {
  "use strict";
  var AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
  var apply = Reflect.apply;
  var call = Function.prototype.call;
  var stringify = JSON.stringify;
  var parse = JSON.parse;
  var then = Promise.prototype.then;
  var resolved = Promise.resolve.bind(Promise);
  var NativeError = Error;
  var NativeString = String;
  var create = Object.create;
  var slice = call.bind(Array.prototype.slice);
  var codeAt = call.bind(String.prototype.charCodeAt);
  var substring = call.bind(String.prototype.substring);
  var exec = call.bind(RegExp.prototype.exec);
  var waitAsync = Atomics.waitAsync;
  var Shared = SharedArrayBuffer;
  var Int32 = Int32Array;
  var frame = /\(eval at .*, <anonymous>:(\d+):\d+\)$/m;
  var LONGEST_MESSAGE = 10000;
  var LONGEST_DELAY = 2147483647;
  var SHORTEST_WAIT = 0.001;

  var result;
  function settle(text) {
    if (result === undefined) {
      result = text;
    }
  }

  function utf8Size(text) {
    var length = text.length;
    if (length > maxBytes || length * 3 <= maxBytes) {
      return length;
    }
    var size = 0;
    for (var i = 0; i < length && size <= maxBytes; i++) {
      var unit = codeAt(text, i);
      // A surrogate pair is 4 bytes; JSON.stringify escapes lone surrogates as ASCII.
      size += unit < 0x80 ? 1 : unit < 0x800 || (unit >= 0xd800 && unit <= 0xdfff) ? 2 : 3;
    }
    return size;
  }

  function shown(value) {
    try {
      return substring(NativeString(value), 0, LONGEST_MESSAGE);
    } catch (e) {
      return "(a value that cannot be shown)";
    }
  }

  function lineOf(error) {
    try {
      var match = exec(frame, NativeString(error.stack));
      var line = match ? +match[1] - 2 : 0; // the body starts on V8's line 3
      return line >= 1 ? line : null;
    } catch (e) {
      return null;
    }
  }

  function ok(value) {
    var kind = typeof value;
    if (kind === "undefined") {
      settle("Jnull");
      return;
    }
    if (kind === "function" || kind === "symbol" || kind === "bigint") {
      settle("Uthe script returned a " + kind + ", which is not JSON");
      return;
    }
    var text;
    try {
      text = stringify(value);
    } catch (e) {
      settle("Uthe returned value is not JSON: " + shown(e && e.message));
      return;
    }
    if (text === undefined) {
      text = "null";
    }
    settle(utf8Size(text) > maxBytes ? "L" : "J" + text);
  }

  function fail(error) {
    var report;
    try {
      var isError = error instanceof NativeError;
      report = {
        name: isError ? shown(error.name) : "thrown value",
        message: isError ? shown(error.message) : shown(error),
        line: isError ? lineOf(error) : null,
      };
    } catch (e) {
      report = {name: "thrown value", message: "(a value that cannot be shown)", line: null};
    }
    settle("E" + stringify(report));
  }

  // setTimeout as in a browser: a missing, zero, negative or non-numeric delay (or one past
  // 2^31-1 ms) runs the callback in a later task, after the pending microtasks. An exception
  // in a callback fails the node, as an uncaught exception would.
  var pending = create(null);
  var nextId = 1;
  globalThis.setTimeout = function setTimeout(callback, delay) {
    if (typeof callback !== "function") {
      throw new TypeError("setTimeout needs a function (strings are not evaluated)");
    }
    var wait = +delay;
    if (!(wait >= SHORTEST_WAIT) || wait > LONGEST_DELAY) {
      wait = SHORTEST_WAIT;
    }
    var args = slice(arguments, 2);
    var id = nextId++;
    pending[id] = true;
    function fire() {
      if (pending[id] === true) {
        delete pending[id];
        try {
          apply(callback, undefined, args);
        } catch (error) {
          fail(error);
        }
      }
    }
    var waiting = waitAsync(new Int32(new Shared(4)), 0, 0, wait);
    apply(then, waiting.async ? waiting.value : resolved(), [fire]);
    return id;
  };
  globalThis.clearTimeout = function clearTimeout(id) {
    delete pending[id];
  };

  // Python polls through this one global: a random name per run, read-only, not enumerable
  // and not configurable, so it cannot be replaced, deleted or shadowed by a global `let`.
  // A script that finds it can only read its own outcome, which is not settled yet.
  Object.defineProperty(globalThis, reader, {
    value: function () {
      return result;
    },
    writable: false,
    enumerable: false,
    configurable: false,
  });
  var script = new AsyncFunction("input", body);
  apply(then, apply(script, undefined, [parse(payload)]), [ok, fail]);
})
"""
"""Defines the global function named ``reader``, then starts the script on its input. The
reader gives undefined while the script runs, then "J<json>" (the result), "L" (the result is
larger than ``maxBytes`` of UTF-8 JSON), "U<message>" (not JSON) or "E<json report>" (it
threw). It is polled with ``eval`` because calling a function through mini-racer evaluates
synchronously (on the event loop) before the call."""
