// Choosing where kernels run. In Node the default is TF.js's wasm backend (SIMD, found in the
// installed package), falling back to cpu; @tensorflow/tfjs-node(-gpu) is used when the user has
// installed it (never required: its install downloads a native library). GRADUS_BACKEND or
// setBackend() choose explicitly. In browsers: webgpu, webgl, wasm, cpu, whichever is registered.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { GradusError } from './errors.js';

const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;

/** Optional native bindings, loaded only if installed. Returns true when one registered a backend. */
async function tryNative(): Promise<void> {
  if (!isNode) return;
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(/* @vite-ignore */ pkg);
      return;
    } catch {
      // not installed (or its native library is missing): keep looking
    }
  }
}

/** Backends registered with TF.js right now, in gradus's order of preference. */
export function availableBackends(): string[] {
  const registered = Object.keys(tf.engine().registryFactory);
  const preference = isNode ? ['tensorflow', 'wasm', 'cpu'] : ['webgpu', 'webgl', 'wasm', 'cpu'];
  return [...preference.filter((b) => registered.includes(b)), ...registered.filter((b) => !preference.includes(b))];
}

/**
 * Emscripten's glue in the wasm backend adds process-wide `uncaughtException` and
 * `unhandledRejection` handlers that rethrow, so every uncaught error in a user's program prints
 * the backend's 30 KB minified source. Remove whatever handlers initialising a backend added.
 */
async function withoutAddedProcessHandlers<T>(init: () => Promise<T>): Promise<T> {
  if (!isNode) return init();
  const events = ['uncaughtException', 'unhandledRejection'];
  type Listener = (...args: unknown[]) => void;
  const proc = process as unknown as { listeners(e: string): Listener[]; removeListener(e: string, l: Listener): void };
  const before = events.map((e) => new Set(proc.listeners(e)));
  try {
    return await init();
  } finally {
    events.forEach((e, i) => {
      for (const l of proc.listeners(e)) if (!before[i]!.has(l)) proc.removeListener(e, l);
    });
  }
}

/** Runs kernels on `name` ('wasm', 'cpu', 'tensorflow' for tfjs-node, 'webgl', ...). */
export async function setBackend(name: string): Promise<void> {
  const available = availableBackends();
  if (!available.includes(name)) {
    throw new GradusError(`setBackend: unknown backend '${name}'; available backends: ${available.join(', ')}` +
      (name === 'tensorflow' ? ' (install @tensorflow/tfjs-node to get it)' : ''));
  }
  let ok = false;
  try {
    ok = await withoutAddedProcessHandlers(() => tf.setBackend(name));
  } catch (e) {
    throw new GradusError(`setBackend: backend '${name}' failed to initialise (${(e as Error).message}); available backends: ${available.join(', ')}`);
  }
  if (!ok) throw new GradusError(`setBackend: backend '${name}' failed to initialise; available backends: ${available.join(', ')}`);
  await tf.ready();
}

/** The backend kernels run on now. */
export function getBackend(): string {
  return tf.getBackend();
}

let initialised: Promise<void> | null = null;

/** Picks the backend once: GRADUS_BACKEND if set, else the first available that initialises. */
export function initBackend(): Promise<void> {
  initialised ??= (async () => {
    await tryNative();
    const requested = isNode ? process.env.GRADUS_BACKEND : undefined;
    if (requested) {
      await setBackend(requested);
      return;
    }
    for (const name of availableBackends()) {
      try {
        if (await withoutAddedProcessHandlers(async () => (await tf.setBackend(name)) && (await tf.ready(), true))) return;
      } catch {
        // try the next one
      }
    }
    throw new GradusError(`no TF.js backend could be initialised; registered: ${availableBackends().join(', ')}`);
  })();
  return initialised;
}
