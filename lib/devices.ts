/**
 * The compute devices llama.cpp can use in this build (ggml's backend device registry).
 */
import { loadAddon } from './addon.js';
import { callNativeSync } from './errors.js';

/** A ggml backend device, as {@link listDevices} reports it. */
export interface Device {
  /** Device name, e.g. `"CPU"`, `"CUDA0"`, `"Metal"`: what `tensorOverrides[].device` takes. */
  readonly name: string;
  /** Human-readable description (e.g. the CPU or GPU model). */
  readonly description: string;
  /** `'cpu'`, `'gpu'` (discrete), `'igpu'` (integrated, shares host memory), `'accel'` (e.g. BLAS, AMX) or `'other'`. */
  readonly type: 'cpu' | 'gpu' | 'igpu' | 'accel' | 'other';
  /** The backend that provides it, e.g. `"CPU"`, `"CUDA"`, `"Metal"`, `"Vulkan"`. */
  readonly backend: string;
  /**
   * Free memory in bytes, now (for the CPU: the host's available memory; for a remote RPC device:
   * as its server reported it when a load or estimate last registered it, so that this call never
   * waits on the network).
   */
  readonly memoryFree: number;
  /** Total memory in bytes. */
  readonly memoryTotal: number;
}

/**
 * Lists the backends and devices of this build with their free and total memory, in
 * llama.cpp's order (GPUs first, then accelerators, then the CPU). A CPU-only build lists
 * the CPU (and accelerator backends compiled in, if any).
 */
export function listDevices(): Device[] {
  return callNativeSync(() => loadAddon().listDevices()).map((d) => Object.freeze({ ...d }));
}
