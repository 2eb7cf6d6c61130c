// Runs an ONNX model once in onnxruntime-node (CPU) on a raw float32 input file
// and writes the first output as raw float32.
//
//   node tests/onnx_run.js MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32
//
// Prints "OUTPUT_NAME dims=[...]" on success; exits 1 with a message otherwise.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node', 'node_modules', 'onnxruntime-node'));

async function main() {
  const [modelPath, inputPath, shapeText, outputPath] = process.argv.slice(2);
  if (!outputPath) throw new Error('usage: onnx_run.js MODEL INPUT.f32 N,C,H,W OUTPUT.f32');
  const dims = shapeText.split(',').map((d) => {
    const n = Number(d);
    if (!Number.isInteger(n) || n < 1) throw new Error(`bad shape '${shapeText}'`);
    return n;
  });
  const count = dims.reduce((a, b) => a * b, 1);
  const bytes = fs.readFileSync(inputPath);
  if (bytes.length !== count * 4)
    throw new Error(`${inputPath}: ${bytes.length} bytes, shape ${shapeText} needs ${count * 4}`);
  // Copy into an aligned buffer: Float32Array needs a 4-byte aligned offset.
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes);
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, dims) };
  const results = await session.run(feeds);
  const name = session.outputNames[0];
  const out = results[name];
  if (out.type !== 'float32') throw new Error(`output ${name} has type ${out.type}`);
  fs.writeFileSync(outputPath, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  console.log(`${name} dims=[${out.dims.join(',')}]`);
}

main().catch((e) => {
  console.error(`onnx_run.js: ${e.message}`);
  process.exit(1);
});
