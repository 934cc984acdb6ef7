"""The scripts that run inside the bubblewrap sandbox: they load the job, run the code with
the host functions as plain functions, and talk to the host as JSON lines over two pipes."""

from __future__ import annotations

PYTHON_RUNNER = r'''
import ast, base64, builtins, json, os, sys, traceback

_REQ = int(sys.argv[1])
_RESP = os.fdopen(int(sys.argv[2]), "rb")
_MEMORY = b'{"type": "memory"}\n'


class HostError(Exception):
    """A host function failed."""


def _enc(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, (list, tuple)):
        return [_enc(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError("dict keys crossing to the host must be str")
            out[k] = _enc(v)
        return out
    raise TypeError(f"{type(value).__name__} is not JSON-like")


def _dec(value):
    if isinstance(value, list):
        return [_dec(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and "$bytes" in value:
            return base64.b64decode(value["$bytes"])
        return {k: _dec(v) for k, v in value.items()}
    return value


def _send(message):
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(_REQ, data):]


def _exchange(message):
    _send(message)
    line = _RESP.readline()
    if not line:
        raise SystemExit(70)
    reply = json.loads(line)
    if "error" in reply:
        raise HostError(reply["error"])
    return _dec(reply.get("value"))


def _host_function(name):
    def call(*args):
        return _exchange({"type": "call", "name": name, "args": _enc(list(args))})
    call.__name__ = name
    return call


def report(value):
    _exchange({"type": "report", "value": _enc(value)})


def _error_text(exc):
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__
    ]
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).strip()


def _main():
    with open(sys.argv[3], encoding="utf-8") as f:
        job = json.load(f)
    sys.path[:] = [job["modules_dir"]] + [p for p in sys.path if p.startswith(sys.base_prefix)]
    namespace = {"__name__": "__main__", "__builtins__": builtins, "report": report}
    for name in job["imports"]:
        namespace[name] = _host_function(name)
    tree = ast.parse(job["source"], filename="<code>")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, "<code>", "exec"), namespace)
    value = eval(compile(last, "<code>", "eval"), namespace) if last is not None else None
    if job["execute"] is not None:
        name, args = job["execute"]
        function = namespace.get(name)
        if not callable(function):
            raise NameError(f"execute: the code defines no function {name!r}")
        value = function(*_dec(args))
    return value


try:
    try:
        _value = _main()
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise
        _value = None
    sys.stdout.flush()
    try:
        _message = {"type": "result", "value": _enc(_value)}
    except (TypeError, ValueError) as exc:
        _message = {"type": "error", "error": f"the value cannot be returned: {exc}"}
    _send(_message)
except MemoryError:
    os.write(_REQ, _MEMORY)
except SystemExit as exc:
    sys.stdout.flush()
    _send({"type": "error", "error": f"the code exited with status {exc.code}"})
except BaseException as exc:
    try:
        sys.stdout.flush()
    except BaseException:
        pass
    if isinstance(exc, MemoryError):
        os.write(_REQ, _MEMORY)
    else:
        _send({"type": "error", "error": _error_text(exc)})
'''

JS_RUNNER = r"""
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const REQ = Number(process.argv[2]);
const RESP = Number(process.argv[3]);
const job = JSON.parse(fs.readFileSync(process.argv[4], "utf8"));
let pending = Buffer.alloc(0);

function enc(value) {
  if (value === undefined || value === null) return null;
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(enc);
  if (typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = enc(v);
    return out;
  }
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "function" || typeof value === "symbol") {
    throw new TypeError(typeof value + " is not JSON-like");
  }
  return value;
}

function dec(value) {
  if (Array.isArray(value)) return value.map(dec);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bytes") return new Uint8Array(Buffer.from(value.$bytes, "base64"));
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = dec(v);
    return out;
  }
  return value;
}

function send(message) {
  const data = Buffer.from(JSON.stringify(message) + "\n");
  let offset = 0;
  while (offset < data.length) offset += fs.writeSync(REQ, data, offset);
}

function readLine() {
  const chunk = Buffer.alloc(65536);
  for (;;) {
    const nl = pending.indexOf(10);
    if (nl >= 0) {
      const line = pending.subarray(0, nl).toString("utf8");
      pending = pending.subarray(nl + 1);
      return line;
    }
    const n = fs.readSync(RESP, chunk, 0, chunk.length, null);
    if (n === 0) process.exit(70);
    pending = Buffer.concat([pending, chunk.subarray(0, n)]);
  }
}

function exchange(message) {
  send(message);
  const reply = JSON.parse(readLine());
  if ("error" in reply) throw new Error(reply.error);
  return dec(reply.value);
}

for (const name of job.imports) {
  globalThis[name] = async (...args) => exchange({ type: "call", name, args: enc(args) });
}
globalThis.report = async (value) => { exchange({ type: "report", value: enc(value) }); };

function finish(message) {
  process.stdout.write("", () => { send(message); process.exit(0); });
}

function isMemory(err) {
  return err instanceof RangeError && /allocation failed|Invalid array length|Invalid typed array length/.test(String(err.message));
}

try {
  const mod = await import(pathToFileURL(path.join(job.modules_dir, job.main)).href);
  let value = mod.default;
  if (job.execute !== null) {
    const [name, args] = job.execute;
    if (typeof mod[name] !== "function") throw new Error("execute: the code exports no function " + JSON.stringify(name));
    value = mod[name](...dec(args));
  }
  value = await value;
  let message;
  try {
    message = { type: "result", value: enc(value) };
  } catch (err) {
    message = { type: "error", error: "the value cannot be returned: " + err.message };
  }
  finish(message);
} catch (err) {
  if (isMemory(err)) finish({ type: "memory" });
  else finish({ type: "error", error: err && err.stack ? String(err.stack) : String(err) });
}
"""
