/**
 * Just enough of the protobuf wire format to write an ONNX ModelProto (onnx.proto3 field numbers). We only
 * ever write models we generate ourselves, so an encoder of ~100 lines replaces a protobuf runtime and the
 * generated ONNX schema.
 */

class Writer {
  private readonly parts: Uint8Array[] = [];
  private readonly small: number[] = [];
  private size = 0;

  private flush(): void {
    if (this.small.length === 0) return;
    this.parts.push(Uint8Array.from(this.small));
    this.small.length = 0;
  }

  varint(value: number | bigint): this {
    let v = BigInt(value);
    if (v < 0n) v += 1n << 64n; // negative int64s are written as ten-byte two's complement
    while (v >= 0x80n) {
      this.small.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
      this.size++;
    }
    this.small.push(Number(v));
    this.size++;
    return this;
  }

  private tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  int(field: number, value: number | bigint): this {
    return this.tag(field, 0).varint(value);
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(new Float32Array([value]).buffer);
    return this.raw(b);
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2).varint(data.length);
    return this.raw(data);
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, m: Writer): this {
    return this.bytes(field, m.finish());
  }

  private raw(b: Uint8Array): this {
    this.flush();
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
}

/** ONNX TensorProto.DataType values we use. */
export const FLOAT = 1;
export const INT64 = 7;
export const BOOL = 9;
export const DOUBLE = 11;

export interface OnnxTensor {
  name: string;
  dims: number[];
  type: typeof FLOAT | typeof INT64 | typeof DOUBLE;
  data: Float32Array | BigInt64Array | Float64Array;
}

export interface OnnxValue {
  name: string;
  type: typeof FLOAT | typeof INT64 | typeof BOOL | typeof DOUBLE;
  /** Undefined: shape left to the runtime's inference. A string is a symbolic (dynamic) dimension. */
  dims?: Array<number | string>;
}

export interface OnnxModel {
  nodes: OnnxNode[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  initializers: OnnxTensor[];
  opset: number;
}

function attribute(name: string, v: AttrValue): Writer {
  // AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7).
  const w = new Writer().string(1, name);
  if (typeof v === 'number') return w.int(3, v).int(20, 2);
  if (typeof v === 'string') return w.string(4, v).int(20, 3);
  if (Array.isArray(v)) {
    for (const i of v) w.int(8, i);
    return w.int(20, 7);
  }
  if ('float' in v) return w.float(2, v.float).int(20, 1);
  for (const f of v.floats) w.float(7, f);
  return w.int(20, 6);
}

function tensor(t: OnnxTensor): Writer {
  // TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian, as every platform ORT runs on).
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.type).string(8, t.name);
  return w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

function valueInfo(v: OnnxValue): Writer {
  // ValueInfoProto{name 1, type 2: TypeProto{tensor_type 1: {elem_type 1, shape 2: {dim 1: {dim_value 1}}}}}
  const tensorType = new Writer().int(1, v.type);
  if (v.dims) {
    const shape = new Writer();
    // Dimension{dim_value 1, dim_param 2}
    for (const d of v.dims)
      shape.message(1, typeof d === 'string' ? new Writer().string(2, d) : new Writer().int(1, d));
    tensorType.message(2, shape);
  }
  return new Writer().string(1, v.name).message(2, new Writer().message(1, tensorType));
}

/** Serialise a model (ir_version 8) to the bytes an InferenceSession accepts. */
export function encodeModel(m: OnnxModel): Uint8Array {
  const g = new Writer();
  for (const n of m.nodes) {
    const w = new Writer();
    for (const i of n.inputs) w.string(1, i);
    for (const o of n.outputs) w.string(2, o);
    w.string(4, n.op);
    for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, attribute(k, v));
    g.message(1, w);
  }
  g.string(2, 'visage');
  for (const t of m.initializers) g.message(5, tensor(t));
  for (const i of m.inputs) g.message(11, valueInfo(i));
  for (const o of m.outputs) g.message(12, valueInfo(o));
  return new Writer()
    .int(1, 8)
    .string(2, 'visage')
    .message(7, g)
    .message(8, new Writer().string(1, '').int(2, m.opset))
    .finish();
}
