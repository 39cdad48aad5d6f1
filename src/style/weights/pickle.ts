import { VisageError } from '../../errors.js';

/**
 * A minimal, safe reader of Python pickles (protocols 0–5), for PyTorch state_dicts. It never runs code:
 * GLOBAL names are handed to the caller's `findGlobal`, which returns a plain JS function for the few it
 * trusts (OrderedDict, torch's tensor rebuilders, storage types) and throws for anything else; REDUCE calls
 * only those functions; persistent ids go to `persistentLoad`. Python values map to: str → string,
 * int → number (bigint beyond 2^53), float → number, bytes → Uint8Array, None → null, bool → boolean,
 * tuple/list → array, dict → Map.
 */

export type PyCallable = (...args: unknown[]) => unknown;

export interface UnpickleOptions {
  /** Name for messages. */
  source: string;
  /** `module.name` → a JS value (usually a function); must throw for names it does not allow. */
  findGlobal: (module: string, name: string) => unknown;
  persistentLoad?: (pid: unknown) => unknown;
}

/** The object BUILD sets state on when its type has no JS counterpart (kept only to be ignored). */
export interface PyObjectState {
  __state__?: unknown;
}

function bad(source: string, message: string): VisageError {
  return new VisageError('E_BAD_WEIGHTS', `${source}: ${message}`);
}

/**
 * Unpickles one pickle starting at `offset` of `buf`; returns the value and the offset after its STOP
 * (files like PyTorch's legacy format hold several pickles back to back).
 */
export function unpickle(
  buf: Uint8Array,
  opts: UnpickleOptions,
  offset = 0,
): { value: unknown; end: number } {
  const { source } = opts;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let p = offset;

  const need = (n: number): number => {
    if (p + n > buf.length) throw bad(source, 'the pickle is truncated');
    const at = p;
    p += n;
    return at;
  };
  const u8 = (): number => buf[need(1)];
  const u16 = (): number => view.getUint16(need(2), true);
  const u32 = (): number => view.getUint32(need(4), true);
  const i32 = (): number => view.getInt32(need(4), true);
  const u64 = (): number => {
    const at = need(8);
    const v = view.getBigUint64(at, true);
    if (v > BigInt(buf.length)) throw bad(source, 'corrupt pickle (length beyond the file)');
    return Number(v);
  };
  const bytes = (n: number): Uint8Array => {
    const at = need(n);
    return buf.subarray(at, at + n);
  };
  const utf8 = (n: number): string => Buffer.from(bytes(n)).toString('utf8');
  const line = (): string => {
    const nl = buf.indexOf(0x0a, p);
    if (nl < 0) throw bad(source, 'the pickle is truncated');
    const s = Buffer.from(buf.subarray(p, nl)).toString('latin1');
    p = nl + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]))
      throw bad(source, 'corrupt pickle (stack underflow)');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw bad(source, 'corrupt pickle (empty stack)');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) throw bad(source, 'corrupt pickle (no mark)');
    return stack.splice(m);
  };
  const signedLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (d: unknown, items: unknown[]): void => {
    if (!(d instanceof Map)) throw bad(source, 'corrupt pickle (SETITEMS on a non-dict)');
    for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i], items[i + 1]);
  };
  const call = (f: unknown, args: unknown): unknown => {
    if (typeof f !== 'function' || !Array.isArray(args))
      throw bad(source, 'corrupt pickle (REDUCE on a non-callable)');
    return (f as PyCallable)(...args);
  };
  const persistent = (pid: unknown): unknown => {
    if (!opts.persistentLoad) throw bad(source, 'unexpected persistent id in the pickle');
    return opts.persistentLoad(pid);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        need(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) throw bad(source, 'corrupt pickle (stack not empty at STOP)');
        return { value: stack[0], end: p };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(signedLE(bytes(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(signedLE(bytes(i32())));
        break;
      case 0x49: {
        // INT (protocol 0; "01"/"00" are True/False)
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : Number.parseInt(s, 10));
        break;
      }
      case 0x4c: // LONG (protocol 0)
        stack.push(Number.parseInt(line().replace(/L$/, ''), 10));
        break;
      case 0x46: // FLOAT (protocol 0)
        stack.push(Number.parseFloat(line()));
        break;
      case 0x47: // BINFLOAT (big-endian double)
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(u64()));
        break;
      case 0x54: // BINSTRING (Python 2 str, as written by torch under Python 2)
        stack.push(Buffer.from(bytes(i32())).toString('latin1'));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(Buffer.from(bytes(u8())).toString('latin1'));
        break;
      case 0x53: {
        // STRING (protocol 0, a quoted repr)
        const s = line();
        stack.push(s.slice(1, -1));
        break;
      }
      case 0x56: // UNICODE (protocol 0, raw-unicode-escape)
        stack.push(line());
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()));
        break;
      case 0x8e: // BINBYTES8
        stack.push(bytes(u64()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x8f: // EMPTY_SET
        stack.push([]);
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x74: // TUPLE
      case 0x6c: // LIST
      case 0x91: // FROZENSET
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const d = new Map();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) throw bad(source, 'corrupt pickle (APPEND on a non-list)');
        l.push(v);
        break;
      }
      case 0x65: // APPENDS
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) throw bad(source, 'corrupt pickle (APPENDS on a non-list)');
        l.push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: // PUT
        memo.set(Number.parseInt(line(), 10), top());
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: {
        // GET
        const k = op === 0x68 ? u8() : op === 0x6a ? u32() : Number.parseInt(line(), 10);
        if (!memo.has(k)) throw bad(source, `corrupt pickle (memo ${k} unset)`);
        stack.push(memo.get(k));
        break;
      }
      case 0x63: {
        // GLOBAL
        const mod = line();
        stack.push(opts.findGlobal(mod, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const mod = pop();
        if (typeof mod !== 'string' || typeof name !== 'string')
          throw bad(source, 'corrupt pickle (STACK_GLOBAL)');
        stack.push(opts.findGlobal(mod, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args) — only for the callables findGlobal allowed
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x62: {
        // BUILD: sets instance state. Our objects (dicts, tensors) take none worth keeping; a state_dict's
        // `_metadata` arrives here and is ignored.
        const state = pop();
        const obj = top();
        if (obj !== null && typeof obj === 'object' && !(obj instanceof Map) && !Array.isArray(obj))
          (obj as PyObjectState).__state__ = state;
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x50: // PERSID
        stack.push(persistent(line()));
        break;
      default:
        throw bad(source, `unsupported pickle opcode 0x${op.toString(16)} at byte ${p - 1}`);
    }
    if (marks.length && marks[marks.length - 1] > stack.length) throw bad(source, 'corrupt pickle (mark)');
  }
}
