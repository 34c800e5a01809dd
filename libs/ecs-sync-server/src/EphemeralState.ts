import type { ComponentData, Patch } from '@p3/protocol';

/**
 * Presence-like state (cursors, selections), namespaced by client id: each client owns what it wrote.
 * Never persisted. Within one client a key merges field by field; `{_exists: false}` removes it.
 */
export class EphemeralState {
  private readonly byClient = new Map<string, Map<string, ComponentData>>();

  apply(clientId: string, patches: readonly Patch[]): void {
    let state = this.byClient.get(clientId);
    for (const patch of patches) {
      for (const [key, data] of Object.entries(patch)) {
        if (data._exists === false) {
          state?.delete(key);
          continue;
        }
        if (state === undefined) {
          state = new Map();
          this.byClient.set(clientId, state);
        }
        const previous = state.get(key);
        state.set(key, previous === undefined ? { ...data } : { ...previous, ...data });
      }
    }
    if (state?.size === 0) this.byClient.delete(clientId);
  }

  /** The merged state of every client but `clientId`, or undefined when there is none. */
  mergedExcept(clientId: string): Patch | undefined {
    const merged = new Map<string, ComponentData>();
    for (const [owner, state] of this.byClient) {
      if (owner === clientId) continue;
      for (const [key, data] of state) {
        const previous = merged.get(key);
        merged.set(key, previous === undefined ? data : { ...previous, ...data });
      }
    }
    return merged.size === 0 ? undefined : Object.fromEntries(merged);
  }

  /** Forgets a client's state; returns the patch deleting its keys, or undefined when it had none. */
  remove(clientId: string): Patch | undefined {
    const state = this.byClient.get(clientId);
    if (state === undefined) return undefined;
    this.byClient.delete(clientId);
    return Object.fromEntries([...state.keys()].map((key) => [key, { _exists: false }]));
  }

  clear(): void {
    this.byClient.clear();
  }
}
