// Runs an ONNX model once in onnxruntime-node (CPU) on a raw float32 input file
// and writes the first output as raw float32.
//
//   node tests/onnx_run.js MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32
//
// Prints "OUTPUT_NAME dims=[...]" on success. Exit status says which step failed,
// so that a test expecting onnxruntime to refuse a model cannot pass on a broken
// setup: 1 = onnxruntime refused the model or the input ("onnx_run.js:
// onnxruntime refused: ..."), 2 = usage or file error, 3 = onnxruntime-node
// cannot be loaded. An uncaught crash of node itself is none of these messages.
'use strict';
const fs = require('fs');
const path = require('path');

class UsageError extends Error {}

function loadOrt() {
  try {
    return require(path.join(__dirname, 'node', 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    console.error(`onnx_run.js: cannot load onnxruntime-node: ${e.message}`);
    process.exit(3);
  }
}

function readInput(inputPath, shapeText) {
  const dims = shapeText.split(',').map((d) => {
    const n = Number(d);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`bad shape '${shapeText}'`);
    return n;
  });
  const count = dims.reduce((a, b) => a * b, 1);
  let bytes;
  try {
    bytes = fs.readFileSync(inputPath);
  } catch (e) {
    throw new UsageError(e.message);
  }
  if (bytes.length !== count * 4)
    throw new UsageError(`${inputPath}: ${bytes.length} bytes, shape ${shapeText} needs ${count * 4}`);
  // Copy into an aligned buffer: Float32Array needs a 4-byte aligned offset.
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes);
  return { data, dims };
}

async function main() {
  const [modelPath, inputPath, shapeText, outputPath] = process.argv.slice(2);
  if (!outputPath) throw new UsageError('usage: onnx_run.js MODEL INPUT.f32 N,C,H,W OUTPUT.f32');
  const { data, dims } = readInput(inputPath, shapeText);
  const ort = loadOrt();
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
  try {
    fs.writeFileSync(outputPath, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  } catch (e) {
    throw new UsageError(e.message);
  }
  console.log(`${name} dims=[${out.dims.join(',')}]`);
}

main().catch((e) => {
  if (e instanceof UsageError) {
    console.error(`onnx_run.js: ${e.message}`);
    process.exit(2);
  }
  console.error(`onnx_run.js: onnxruntime refused: ${e.message}`);
  process.exit(1);
});
