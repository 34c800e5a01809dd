export { BinaryCodec, defaultBinaryCodecOptions, type BinaryCodecOptions } from './binary-codec.js';
export type { DirectoryView } from './entity-directory.js';
export { NumberEncoding, dequantize, planNumber, quantize, type NumberPlan } from './quantize.js';
export { ClientTag as BinaryClientTag, ServerTag as BinaryServerTag } from './wire-format.js';
