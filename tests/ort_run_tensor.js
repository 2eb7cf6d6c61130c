// Runs an ONNX model in onnxruntime-node (CPU) on one TensorProto file and
// writes its first output as a TensorProto file: the foreign-runtime reference
// for sdinfer's tests (t_sdinfer.sh).
//
//   node tests/ort_run_tensor.js MODEL.onnx INPUT.pb OUTPUT.pb
//
// TensorProto is read and written with a minimal protobuf codec (float tensors:
// dims, data_type, raw_data or float_data), so nothing beyond onnxruntime-node is needed.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node', 'node_modules', 'onnxruntime-node'));

function readVarint(bytes, state) {
  let value = 0, scale = 1;
  for (;;) {
    if (state.pos >= bytes.length) throw new Error('truncated varint');
    const b = bytes[state.pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return value;
    scale *= 128;
  }
}

function decodeTensor(bytes) {
  const state = { pos: 0 };
  const dims = [];
  let dataType = 0, raw = null;
  const floats = [];
  while (state.pos < bytes.length) {
    const key = readVarint(bytes, state);
    const field = Math.floor(key / 8), wire = key % 8;
    if (wire === 0) {
      const v = readVarint(bytes, state);
      if (field === 1) dims.push(v);
      else if (field === 2) dataType = v;
    } else if (wire === 2) {
      const len = readVarint(bytes, state);
      const body = bytes.subarray(state.pos, state.pos + len);
      state.pos += len;
      if (field === 1) {
        const inner = { pos: 0 };
        while (inner.pos < body.length) dims.push(readVarint(body, inner));
      } else if (field === 4) {
        for (let i = 0; i + 4 <= body.length; i += 4) floats.push(body.readFloatLE(i));
      } else if (field === 9) {
        raw = body;
      }
    } else if (wire === 5) {
      if (field === 4) floats.push(bytes.readFloatLE(state.pos));
      state.pos += 4;
    } else if (wire === 1) {
      state.pos += 8;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  if (dataType !== 1) throw new Error(`only float tensors (data_type ${dataType})`);
  const count = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(count);
  if (raw) {
    if (raw.length !== count * 4) throw new Error('raw_data size does not match dims');
    for (let i = 0; i < count; i++) data[i] = raw.readFloatLE(4 * i);
  } else {
    if (floats.length !== count) throw new Error('float_data size does not match dims');
    data.set(floats);
  }
  return { dims, data };
}

function varint(value) {
  const out = [];
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function encodeTensor(dims, data) {
  const packedDims = dims.flatMap(varint);
  const raw = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; i++) raw.writeFloatLE(data[i], 4 * i);
  return Buffer.concat([
    Buffer.from([0x0a, ...varint(packedDims.length), ...packedDims]),  // dims, packed
    Buffer.from([0x10, 0x01]),                                         // data_type FLOAT
    Buffer.from([0x4a, ...varint(raw.length)]), raw,                   // raw_data
  ]);
}

async function main() {
  const [modelPath, inputPath, outputPath] = process.argv.slice(2);
  if (!outputPath) throw new Error('usage: ort_run_tensor.js MODEL.onnx INPUT.pb OUTPUT.pb');
  const input = decodeTensor(fs.readFileSync(inputPath));
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1,
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input.data, input.dims) };
  const results = await session.run(feeds);
  const out = results[session.outputNames[0]];
  fs.writeFileSync(outputPath, encodeTensor(out.dims.map(Number), out.data));
  console.log(`ort: ${session.outputNames[0]} [${out.dims.join(', ')}]`);
}

main().catch((e) => {
  console.error(`ort_run_tensor.js: ${e.message}`);
  process.exit(1);
});
