/** Metadata of an entity lives in the field store beside its fields, so rewinds, deltas and snapshots cover it. */
export const TYPE = '_type';
export const OWNER = '_owner';
export const INPUT = '_input';
export { EXISTS } from './field-store.js';
